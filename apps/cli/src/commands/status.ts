import { RunStatus } from '@rds/schemas';
import { connectTemporalClient, readRunStatus, TemporalBackend } from '@rds/runner';
import { describeStatus } from '../present.js';
import { ValidationError } from '@rds/schemas';
import { parseFlags, type Command } from '../args.js';

const NAME = 'status';

const command: Command = {
  name: NAME,
  summary: "a run's state, stage, progress and counts (from Temporal by id, or from a run directory)",
  usage: 'rds status <workflow-id> | rds status --run-dir <dir>   [--json]',
  async run(argv) {
    const { values, positionals } = parseFlags(
      NAME,
      argv,
      { 'run-dir': { type: 'string' }, json: { type: 'boolean', default: false } },
      true,
    );
    const id = positionals[0];
    let status: RunStatus | null;
    if (values['run-dir']) {
      status = await readRunStatus(values['run-dir']);
      if (!status) {
        console.error(`rds status: no run recorded in ${values['run-dir']} (no status.json)`);
        return 1;
      }
      if (id && id !== status.runId) console.error(`note: ${values['run-dir']} holds run ${status.runId}, not ${id}`);
    } else {
      if (!id) throw new ValidationError(`rds ${NAME}: give a workflow id or --run-dir <dir>`);
      const { client, connection } = await connectTemporalClient();
      try {
        const detail = await new TemporalBackend({ client }).get(id);
        if (!detail) {
          console.error(`rds status: no workflow ${id}`);
          return 1;
        }
        status = detail.status;
        if (!status) {
          console.log(values.json ? JSON.stringify(detail, null, 2) : `run ${id} (temporal): ${detail.state}`);
          return 0;
        }
      } finally {
        await connection.close();
      }
    }
    console.log(values.json ? JSON.stringify(status, null, 2) : describeStatus(status));
    return 0;
  },
};
export default command;
