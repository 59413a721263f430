import { connectTemporalClient, TemporalBackend } from '@rds/runner';
import { ValidationError } from '@rds/schemas';
import { parseFlags, type Command } from '../args.js';

const NAME = 'cancel';

const command: Command = {
  name: NAME,
  summary: 'cancel a Temporal run: the running activity stops cleanly, finished artifacts stay',
  usage: 'rds cancel <workflow-id>',
  async run(argv) {
    const { positionals } = parseFlags(NAME, argv, {}, true);
    const id = positionals[0];
    if (!id) throw new ValidationError(`rds ${NAME}: give the workflow id (printed by rds submit)`);
    const { client, connection } = await connectTemporalClient();
    try {
      await new TemporalBackend({ client }).cancel(id);
      console.error(`${NAME} requested for ${id}`);
      return 0;
    } finally {
      await connection.close();
    }
  },
};
export default command;
