import { connectTemporalClient, loadConfigFile, TemporalBackend } from '@rds/runner';
import { parseFlags, required, type Command } from '../args.js';

const NAME = 'submit';

const command: Command = {
  name: NAME,
  summary: 'start a selection as a Temporal workflow (TEMPORAL_ADDRESS); prints the workflow id',
  usage: 'rds submit --config <file.json> [--id WORKFLOW_ID] [--cpu-queue NAME] [--gpu-queue NAME] [--parallelism N]',
  async run(argv) {
    const { values } = parseFlags(NAME, argv, {
      config: { type: 'string' },
      id: { type: 'string' },
      'cpu-queue': { type: 'string' },
      'gpu-queue': { type: 'string' },
      parallelism: { type: 'string' },
    });
    const config = await loadConfigFile(required(NAME, 'config', values.config));
    const { client, connection } = await connectTemporalClient();
    try {
      const backend = new TemporalBackend({
        client,
        queues: {
          ...(values['cpu-queue'] ? { cpu: values['cpu-queue'] } : {}),
          ...(values['gpu-queue'] ? { gpu: values['gpu-queue'] } : {}),
        },
        ...(values.parallelism ? { embedParallelism: Number(values.parallelism) } : {}),
      });
      const { runId } = await backend.start(config, values.id);
      console.error(`submitted; follow with: rds status ${runId}`);
      console.log(runId);
      return 0;
    } finally {
      await connection.close();
    }
  },
};
export default command;
