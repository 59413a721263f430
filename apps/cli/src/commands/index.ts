// Every `rds` sub-command, one line each. Commands live in their own files and load lazily.
import { registerCommand } from '../main.js';

registerCommand('ingest', 'validate, normalise, dedup and shard pool files into a run directory', async () => (await import('./ingest.js')).default);
registerCommand('select', 're-select from stored scores with any strategy, budget, seed, quotas', async () => (await import('./select.js')).default);
