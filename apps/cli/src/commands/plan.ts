import { formatPlan, planRun } from '@rds/planner';
import { loadConfigFile, parseRunConfig } from '@rds/runner';
import { PlanSettings, ValidationError, parseOrThrow } from '@rds/schemas';
import { parseFlags, required, type Command } from '../args.js';

const NAME = 'plan';

const command: Command = {
  name: NAME,
  summary:
    'estimate a run before embedding: rows, tokens, FLOPs, time here and on GPU classes, disk and memory (writes nothing)',
  usage: 'rds plan --config <file.json> [--sample-rows N] [--calibrate-tokens N (0: skip)] [--json]',
  async run(argv) {
    const { values } = parseFlags(NAME, argv, {
      config: { type: 'string' },
      'sample-rows': { type: 'string' },
      'calibrate-tokens': { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    const config = parseRunConfig(await loadConfigFile(required(NAME, 'config', values.config)));
    const int = (flag: string, v: string | undefined) => {
      if (v === undefined) return undefined;
      if (!/^\d+$/.test(v.trim()))
        throw new ValidationError(`rds ${NAME}: --${flag} expects a whole number, got "${v}"`);
      return Number(v);
    };
    const settings = parseOrThrow(
      PlanSettings,
      {
        ...(values['sample-rows'] !== undefined ? { sampleRows: int('sample-rows', values['sample-rows']) } : {}),
        ...(values['calibrate-tokens'] !== undefined
          ? { calibrateTokens: int('calibrate-tokens', values['calibrate-tokens']) }
          : {}),
      },
      `rds ${NAME} options`,
    );
    const plan = await planRun(config, { ...settings, log: (m) => process.stderr.write(`${m}\n`) });
    console.log(values.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
    return 0;
  },
};
export default command;
