// Every `rds` sub-command, one line each. Commands live in their own files and load lazily.
import { registerCommand } from '../main.js';

registerCommand('ingest', 'validate, normalise, dedup and shard pool files into a run directory', async () => (await import('./ingest.js')).default);
