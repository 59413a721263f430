import { connectTemporalClient, TemporalBackend } from '@rds/runner';
import { ValidationError } from '@rds/schemas';
import { parseFlags, type Command } from '../args.js';

const NAME = 'pause';

const command: Command = {
  name: NAME,
  summary: 'pause a Temporal run: no new activity or shard starts until resume',
  usage: 'rds pause <workflow-id>',
  async run(argv) {
    const { positionals } = parseFlags(NAME, argv, {}, true);
    const id = positionals[0];
    if (!id) throw new ValidationError(`rds ${NAME}: give the workflow id (printed by rds submit)`);
    const { client, connection } = await connectTemporalClient();
    try {
      await new TemporalBackend({ client }).pause(id);
      console.error(`${NAME} requested for ${id}`);
      return 0;
    } finally {
      await connection.close();
    }
  },
};
export default command;
