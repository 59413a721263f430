// Tokenizes rendered texts off the main thread, so the main thread keeps onnxruntime busy.
// Plain JS (no TypeScript) so it loads in a worker without a loader, from src/ and dist/ alike.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Tokenizer } from '@huggingface/tokenizers';

const tokenizer = new Tokenizer(
  JSON.parse(fs.readFileSync(workerData.tokenizerJson, 'utf8')),
  JSON.parse(fs.readFileSync(workerData.tokenizerConfig, 'utf8')),
);

parentPort.on('message', ({ id, texts, maxTokens }) => {
  try {
    const seqs = texts.map((t) => {
      const ids = tokenizer.encode(t).ids;
      return ids.length > maxTokens ? ids.slice(0, maxTokens) : ids;
    });
    parentPort.postMessage({ id, seqs });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.stack ? err.stack : err) });
  }
});
