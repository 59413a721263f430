import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { activityRuntime, runLayout, writeJsonAtomic } from '@rds/artifacts';
import { aggregatesForRun, parseOrThrow, RunConfig, ValidationError, type RunConfigInput } from '@rds/schemas';
import type { ValidateConfigInput, ValidateConfigOutput } from '@rds/workflows/plan';

/** Parse a run config (throws ValidationError naming every bad field path). */
export function parseRunConfig(config: unknown, where = 'run config'): RunConfig {
  return parseOrThrow(RunConfig, config, where);
}

/** A runDir that exists must be a directory (a file there would fail deep in the run with EEXIST). */
export async function assertRunDirUsable(runDir: string): Promise<void> {
  const st = await fs.stat(runDir).catch(() => null);
  if (st && !st.isDirectory()) {
    // The issue (what an API client sees) does not repeat the server's absolute path; the message does.
    const message = 'exists and is not a directory (every artifact of the run goes under runDir)';
    throw new ValidationError(`invalid run config:\n  runDir: ${runDir} ${message}`, [{ path: 'runDir', message }]);
  }
}

/**
 * Activity: validate the submitted config and record it as runLayout(runDir).config, so every
 * later stage and every inspector sees the exact config (defaults applied) the run used.
 * ValidationError is non-retryable in the workflow's retry policy.
 */
export async function validateConfig(input: ValidateConfigInput): Promise<ValidateConfigOutput> {
  const config = parseRunConfig(input.config);
  await assertRunDirUsable(config.runDir);
  await writeJsonAtomic(runLayout(config.runDir).config, config);
  activityRuntime().log(`run ${input.runId}: config valid, recorded in ${runLayout(config.runDir).config}`);
  return { config, aggregates: aggregatesForRun(config) };
}

/**
 * Resolve the config's relative paths (runDir, pool inputs and globs, query files, model dir)
 * against `baseDir` (the config file's directory), so a config means the same wherever it is run from.
 * Leaves anything that is not a string alone: validation reports it afterwards.
 */
export function resolveConfigPaths(config: unknown, baseDir: string): RunConfigInput {
  if (!config || typeof config !== 'object' || Array.isArray(config)) return config as RunConfigInput;
  const abs = (p: unknown) => (typeof p === 'string' && p !== '' ? path.resolve(baseDir, p) : p);
  const c = { ...(config as Record<string, unknown>) };
  c.runDir = abs(c.runDir);
  if (c.pool && typeof c.pool === 'object') {
    const pool = { ...(c.pool as Record<string, unknown>) };
    if (Array.isArray(pool.inputs)) pool.inputs = pool.inputs.map(abs);
    c.pool = pool;
  }
  if (Array.isArray(c.queries)) {
    c.queries = c.queries.map((q: unknown) =>
      q && typeof q === 'object' ? { ...q, path: abs((q as { path?: unknown }).path) } : q,
    );
  }
  if (Array.isArray(c.decontaminate)) {
    c.decontaminate = c.decontaminate.map((d: unknown) =>
      d && typeof d === 'object' ? { ...d, path: abs((d as { path?: unknown }).path) } : d,
    );
  }
  if (c.model && typeof c.model === 'object') c.model = { ...c.model, dir: abs((c.model as { dir?: unknown }).dir) };
  const dest = (c.handoff as { destination?: { kind?: unknown; dir?: unknown } } | undefined)?.destination;
  if (dest?.kind === 'local' && typeof dest.dir === 'string') {
    c.handoff = { ...(c.handoff as object), destination: { ...dest, dir: abs(dest.dir) } };
  }
  return c as RunConfigInput;
}

/**
 * A Temporal run's paths are read by workers on other machines, which resolve a relative path against
 * their own working directory: every path must be absolute, and mean the same file on every worker
 * (shared storage; the pool fingerprint also records absolute input paths and mtimes).
 */
export function requireAbsolutePaths(config: RunConfig, where = 'run config'): void {
  const issues: { path: string; message: string }[] = [];
  const check = (p: string, field: string) => {
    if (!path.isAbsolute(p))
      issues.push({
        path: field,
        message: `"${p}" is relative: workers on other machines need an absolute path on shared storage`,
      });
  };
  check(config.runDir, 'runDir');
  config.pool.inputs.forEach((p, i) => check(p, `pool.inputs[${i}]`));
  config.queries.forEach((q, i) => check(q.path, `queries[${i}].path`));
  config.decontaminate.forEach((d, i) => check(d.path, `decontaminate[${i}].path`));
  check(config.model.dir, 'model.dir');
  const dest = config.handoff.destination;
  if (dest.kind === 'local' && dest.dir) check(dest.dir, 'handoff.destination.dir');
  if (issues.length)
    throw new ValidationError(`${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/**
 * Every stage after validateConfig works in the run directory validateConfig wrote its config.json
 * into. A worker that cannot see that file is not on the same storage (or mounts it elsewhere): say
 * so instead of writing a second, private copy of the run. Retryable: another worker may see it.
 */
export async function requireVisibleRunDir(runDir: string): Promise<void> {
  const config = runLayout(runDir).config;
  const seen = await fs.stat(config).then(
    () => true,
    () => false,
  );
  if (!seen) {
    throw new Error(
      `run directory ${runDir} is not visible on this worker (${os.hostname()}: no ${config}): every worker must see ` +
        'run directories at the same absolute path (shared storage)',
    );
  }
}
