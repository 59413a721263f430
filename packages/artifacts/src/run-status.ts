import { readJsonIfExists, writeJsonAtomic } from './files.js';
import { runLayout } from './layout.js';
import { RunStatus } from '@rds/schemas';

/** Read runLayout(runDir).status (validated), or null when the run never started there. */
export function readRunStatus(runDir: string): Promise<RunStatus | null> {
  return readJsonIfExists(runLayout(runDir).status, RunStatus);
}

/**
 * Writes status.json atomically on every change, one write at a time and always the latest
 * state (intermediate states are coalesced), so readers never see a torn or stale-after-final file.
 */
export class StatusFileWriter {
  private pending: RunStatus | null = null;
  private writing: Promise<void> = Promise.resolve();
  private running = false;
  private lastError: unknown = null;

  constructor(private readonly file: (s: RunStatus) => string = (s) => runLayout(s.runDir).status) {}

  write(status: RunStatus): void {
    if (!status.runDir) return; // not known until the config validated
    this.pending = status;
    if (!this.running) this.writing = this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending) {
        const s = this.pending;
        this.pending = null;
        try {
          await writeJsonAtomic(this.file(s), s);
        } catch (err) {
          this.lastError = err;
        }
      }
    } finally {
      this.running = false;
    }
  }

  /** Wait until everything written so far is on disk; rethrows the last write error. */
  async flush(): Promise<void> {
    await this.writing;
    if (this.lastError) {
      const e = this.lastError;
      this.lastError = null;
      throw e;
    }
  }
}
