import { connectTemporalClient, TemporalBackend } from '@rds/runner';
import { ValidationError } from '@rds/schemas';
import { parseFlags, type Command } from '../args.js';

const NAME = 'resume';

const command: Command = {
  name: NAME,
  summary: 'resume a paused Temporal run',
  usage: 'rds resume <workflow-id>',
  async run(argv) {
    const { positionals } = parseFlags(NAME, argv, {}, true);
    const id = positionals[0];
    if (!id) throw new ValidationError(`rds ${NAME}: give the workflow id (printed by rds submit)`);
    const { client, connection } = await connectTemporalClient();
    try {
      await new TemporalBackend({ client }).resume(id);
      console.error(`${NAME} requested for ${id}`);
      return 0;
    } finally {
      await connection.close();
    }
  },
};
export default command;
