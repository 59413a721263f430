import { ValidationError } from '@rds/schemas';
import type { Command } from './args.js';

/** Sub-commands, loaded lazily so `rds ingest` never loads onnxruntime or Temporal. */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {};

export function registerCommand(name: string, summary: string, load: () => Promise<Command>): void {
  commands[name] = { summary, load };
}

function help(): string {
  const lines = Object.entries(commands).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return `usage: rds <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nrds <command> --help for a command's options`;
}

export async function main(argv: string[]): Promise<number> {
  await import('./commands/index.js');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`rds: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  const cmd = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`usage: ${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof ValidationError) {
      // Most messages already start with `rds <command>:`; do not say it twice.
      console.error(err.message.startsWith('rds ') ? err.message : `rds ${name}: ${err.message}`);
      return 2;
    }
    console.error(`rds ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}
