import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type Logger } from '@temporalio/worker';
import { writeFileAtomic } from '@rds/artifacts';

/** The workflows package root (works whether @rds/workflows resolves to its sources or its dist). */
function workflowsRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.resolve('@rds/workflows'))), '..');
}

/** Where `npm run build-bundle` writes the prebuilt workflow bundle, and where the worker looks for it. */
export function defaultBundlePath(): string {
  return path.join(workflowsRoot(), 'dist', 'bundle.js');
}

/** Bundle the workflows for the sandbox (webpack resolves workspace packages to their sources, like vitest and tsx do). */
export async function bundleWorkflows(logger?: Logger): Promise<string> {
  const workflowsPath = path.join(workflowsRoot(), 'src', 'index.ts');
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    ...(logger ? { logger } : {}),
    webpackConfigHook: (config) => {
      config.resolve = { ...config.resolve, conditionNames: ['@rds/source', '...'] };
      return config;
    },
  });
  return code;
}

export async function writeWorkflowBundle(
  out = defaultBundlePath(),
  logger?: Logger,
): Promise<{ path: string; bytes: number }> {
  const code = await bundleWorkflows(logger);
  await writeFileAtomic(out, code);
  return { path: out, bytes: Buffer.byteLength(code) };
}

/**
 * The prebuilt bundle when present (production: no webpack at start, identical code on every worker),
 * else a fresh bundle. `source` says which, for the startup log.
 */
export async function loadWorkflowBundle(
  bundlePath: string | 'fresh' = defaultBundlePath(),
  logger?: Logger,
): Promise<{ code: string; source: string }> {
  if (bundlePath !== 'fresh') {
    const code = await fs.readFile(bundlePath, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (code !== null) return { code, source: `prebuilt ${bundlePath}` };
  }
  return { code: await bundleWorkflows(logger), source: 'bundled at start' };
}
