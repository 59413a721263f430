import type { Command } from '../args.js';

const command: Command = {
  name: 'ingest',
  summary: 'validate, normalise, dedup and shard pool files into a run directory',
  usage: 'rds ingest --input <files/globs...> --out <dir>',
  async run() {
    throw new Error('rds ingest: not implemented yet');
  },
};
export default command;
