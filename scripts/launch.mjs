#!/usr/bin/env node
// Runs a TypeScript entry point of this repository the way every command does: through tsx with the
// `@rds/source` export condition (workspace packages resolve to their sources, no build step), in a
// child process with the malloc settings below; signals are forwarded, and the child dies with the
// launcher (an IPC channel it watches, see parent-watch.mjs), so kill -9 of `rds` or `npm run api`
// never leaves the real process running on its own.
//   node scripts/launch.mjs <entry.ts> [args...]           npm run api, npm run bench:*
//   import { launch } from '../../../scripts/launch.mjs'    the rds and rds-worker commands
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PARENT_WATCH = fileURLToPath(new URL('./parent-watch.mjs', import.meta.url));

/**
 * glibc serves large allocations with fresh pages from the kernel and unmaps them on free, so every
 * block's onnxruntime outputs and buffers were new memory, and first-touching it cost ~3 ms per MB on
 * the CI VM (page faults): 5-10% of scoring and ingestion time. With these, freed buffers stay in
 * the heap and are reused. Settings already in the environment win.
 */
export const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(256 << 20) };

export function launch(entry, args) {
  const child = spawn(
    process.execPath,
    ['--conditions=@rds/source', '--import', PARENT_WATCH, '--import', 'tsx', entry, ...args],
    {
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      env: { ...MALLOC_ENV, ...process.env },
    },
  );
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, ...args] = process.argv.slice(2);
  if (!entry) {
    console.error('usage: node scripts/launch.mjs <entry.ts> [args...]');
    process.exit(2);
  }
  launch(path.resolve(entry), args);
}
