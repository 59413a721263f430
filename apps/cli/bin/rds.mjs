#!/usr/bin/env node
// Entry point of the `rds` command. Runs the TypeScript sources through tsx with the `@rds/source`
// export condition, so workspace packages resolve to their sources and no build step is needed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../src/entry.ts', import.meta.url));
const child = spawn(process.execPath, ['--conditions=@rds/source', '--import', 'tsx', entry, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
