import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Message } from '@rds/schemas';
import type { LoadedModel } from './model.js';
import { renderTulu } from './render.js';

/**
 * Tokenization in a worker thread. Tokenizing costs about as much CPU as the forward pass of a
 * small model, so doing it on the main thread would leave onnxruntime idle between chunks; with a
 * worker, chunk k+1 is tokenized while chunk k runs through the model.
 */
export class TokenizerWorker {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (s: number[][]) => void; reject: (e: Error) => void }>();

  constructor(private readonly model: LoadedModel) {
    this.worker = new Worker(new URL('./tokenize-worker.mjs', import.meta.url), {
      workerData: {
        tokenizerJson: path.join(model.dir, 'tokenizer.json'),
        tokenizerConfig: path.join(model.dir, 'tokenizer_config.json'),
      },
    });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; seqs?: number[][]; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`tokenizer worker: ${m.error}`));
      else p.resolve(m.seqs!);
    });
    this.worker.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  /** Same result as tokenizeMessages() for each conversation, computed off-thread. */
  tokenize(conversations: readonly (readonly Message[])[], maxTokens: number): Promise<number[][]> {
    return this.tokenizeTexts(
      conversations.map((m) => renderTulu(m, this.model.eos)),
      maxTokens,
    );
  }

  /** tokenize() for texts already rendered with renderTulu. */
  tokenizeTexts(texts: readonly string[], maxTokens: number): Promise<number[][]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, texts, maxTokens });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
