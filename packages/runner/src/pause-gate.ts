/**
 * Pause/resume for the local runner: the pipeline awaits `wait()` before each stage and each shard.
 * A pause requested mid-stage takes hold only at the next `wait()`; listeners hear `true` then (the
 * run is really held), not at the request, so a "paused" status never has a stage still running.
 */
export class PauseGate {
  private pausedNow = false;
  private holding = false;
  private waiters: (() => void)[] = [];
  private listeners: ((paused: boolean) => void)[] = [];

  get paused(): boolean {
    return this.pausedNow;
  }

  pause(): void {
    this.pausedNow = true;
  }

  resume(): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    if (this.holding) {
      this.holding = false;
      for (const l of this.listeners) l(false);
    }
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  onChange(listener: (paused: boolean) => void): () => void {
    this.listeners.push(listener);
    return () => void (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  /** Resolves when not paused; rejects with the signal's reason if cancelled while waiting. */
  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (!this.pausedNow) return Promise.resolve();
    if (!this.holding) {
      this.holding = true;
      for (const l of this.listeners) l(true);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(abortReason(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }
}

export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new Error(`cancelled: ${String(r)}`);
}
