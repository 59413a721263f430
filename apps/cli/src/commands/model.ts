import path from 'node:path';
import { writeTestModel } from '@rds/encoder';
import { ValidationError } from '@rds/schemas';
import { parseFlags, required, type Command } from '../args.js';

const NAME = 'model';

const command: Command = {
  name: NAME,
  summary: 'model utilities: `rds model test-init --out <dir>` writes the generated test model',
  usage: 'rds model test-init --out <dir>',
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'test-init') throw new ValidationError(`rds ${NAME}: unknown sub-command "${sub ?? ''}" (expected test-init)`);
    const { values } = parseFlags(NAME, rest, { out: { type: 'string' } });
    const dir = path.resolve(required(NAME, 'out', values.out));
    await writeTestModel(dir);
    console.error(`wrote the generated test model to ${dir}`);
    console.error('note: random weights, for exercising the pipeline only; its selections carry no meaning.');
    return 0;
  },
};
export default command;
