import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where installed models and the exporter's Python environment live: $RDS_CACHE_DIR, else
 * ${XDG_CACHE_HOME:-~/.cache}/rds-select. Models go to <root>/models/<name>, the virtualenv to
 * <root>/python/<requirements checksum>/.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RDS_CACHE_DIR) return path.resolve(env.RDS_CACHE_DIR);
  const xdg =
    env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(xdg, 'rds-select');
}

export function defaultModelDir(name: string, root = cacheRoot()): string {
  return path.join(root, 'models', name);
}

/** The committed Python files (requirements + scripts), beside src/ and dist/ alike. */
export const PYTHON_DIR = fileURLToPath(new URL('../python/', import.meta.url));
