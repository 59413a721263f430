// Every `rds` sub-command, one line each. Commands live in their own files and load lazily.
import { registerCommand } from '../main.js';

registerCommand(
  'ingest',
  'validate, normalise, dedup and shard pool files into a run directory',
  async () => (await import('./ingest.js')).default,
);
registerCommand(
  'select',
  're-select from stored scores with any strategy, budget, seed, quotas',
  async () => (await import('./select.js')).default,
);
registerCommand(
  'run',
  'run a selection on this machine (resumes an interrupted run)',
  async () => (await import('./run.js')).default,
);
registerCommand(
  'submit',
  'start a selection as a Temporal workflow; prints its id',
  async () => (await import('./submit.js')).default,
);
registerCommand(
  'status',
  "a run's state and progress (Temporal id or --run-dir)",
  async () => (await import('./status.js')).default,
);
registerCommand(
  'pause',
  'pause a Temporal run before its next activity',
  async () => (await import('./pause.js')).default,
);
registerCommand('resume', 'resume a paused Temporal run', async () => (await import('./resume.js')).default);
registerCommand(
  'cancel',
  'cancel a Temporal run (finished artifacts stay)',
  async () => (await import('./cancel.js')).default,
);
registerCommand(
  'handoff',
  'write the selected examples as a training file + dataset card, publish, trigger fine-tuning',
  async () => (await import('./handoff.js')).default,
);
registerCommand(
  'embed',
  'embed the pool shards and query sets of a run with an ONNX model (resumable)',
  async () => (await import('./embed.js')).default,
);
registerCommand(
  'cache',
  'the embedding cache shared by runs (stats: what it holds; gc: drop unused or old entries)',
  async () => (await import('./cache.js')).default,
);
registerCommand(
  'model',
  'model utilities (fetch: install a pretrained model; test-init: write the generated test model)',
  async () => (await import('./model.js')).default,
);
registerCommand(
  'plan',
  'estimate a run before embedding: rows, tokens, FLOPs, time, disk, memory',
  async () => (await import('./plan.js')).default,
);
registerCommand(
  'score',
  'score the pool against the query sets (max/mean per task, per-query top-K; resumable)',
  async () => (await import('./score.js')).default,
);
