import { connectTemporalClient, TemporalBackend } from '@rds/runner';
import { ValidationError } from '@rds/schemas';
import { parseFlags, type Command } from '../args.js';

/** `rds pause|resume|cancel <workflow-id>`: one steering action on a Temporal run. */
export function steerCommand(name: 'pause' | 'resume' | 'cancel', summary: string): Command {
  return {
    name,
    summary,
    usage: `rds ${name} <workflow-id>`,
    async run(argv) {
      const { positionals } = parseFlags(name, argv, {}, true);
      const id = positionals[0];
      if (!id) throw new ValidationError(`rds ${name}: give the workflow id (printed by rds submit)`);
      const { client, connection } = await connectTemporalClient();
      try {
        await new TemporalBackend({ client })[name](id);
        console.error(`${name} requested for ${id}`);
        return 0;
      } finally {
        await connection.close();
      }
    },
  };
}
