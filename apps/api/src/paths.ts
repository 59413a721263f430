import fs from 'node:fs/promises';
import path from 'node:path';
import { isInside } from '@rds/artifacts';
import { expandInputs } from '@rds/pool';
import { ValidationError, type RunConfig } from '@rds/schemas';

const GLOB_CHARS = /[*?[\]{}()!]/;

/** realpath of the deepest existing ancestor, with the missing tail appended (a symlink anywhere up the chain is followed). */
async function realpathOfNearest(target: string): Promise<string> {
  let existing = target;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(await fs.realpath(existing), ...tail.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
      const parent = path.dirname(existing);
      if (parent === existing) return target;
      tail.push(path.basename(existing));
      existing = parent;
    }
  }
}

class PathError extends Error {}

/**
 * Confines every path a request names to configured roots: pool inputs, query files and the model
 * directory to the data roots, the run directory (and a local handoff directory) to the runs root.
 * Relative paths resolve against the first root. Rejected: `..` escapes, absolute paths outside,
 * and paths whose existing part is (or passes through) a symlink leading outside.
 */
export class PathPolicy {
  private constructor(
    readonly dataRoots: readonly string[],
    readonly runsRoot: string,
  ) {}

  /** Roots are resolved to their real paths once (the runs root is created if missing). */
  static async create(dataRoots: readonly string[], runsRoot: string): Promise<PathPolicy> {
    if (dataRoots.length === 0) throw new Error('no data roots configured (RDS_DATA_ROOTS)');
    await fs.mkdir(runsRoot, { recursive: true });
    const real = await Promise.all(
      dataRoots.map((r) =>
        fs.realpath(path.resolve(r)).catch(() => {
          throw new Error(`data root ${r} does not exist`);
        }),
      ),
    );
    return new PathPolicy(real, await fs.realpath(path.resolve(runsRoot)));
  }

  private async confine(raw: string, roots: readonly string[]): Promise<string> {
    if (raw.includes('\0')) throw new PathError('contains a NUL byte');
    const resolved = path.resolve(roots[0]!, raw);
    if (!roots.some((r) => isInside(r, resolved))) throw new PathError('is outside the allowed roots');
    const real = await realpathOfNearest(resolved);
    if (!roots.some((r) => isInside(r, real))) throw new PathError('leads outside the allowed roots (symlink)');
    return resolved;
  }

  /** A glob's fixed leading directories are confined, `..` after them is refused, and every current match must stay inside. */
  private async confineGlob(raw: string, roots: readonly string[]): Promise<string> {
    const segments = raw.split(/[\\/]/);
    const firstDynamic = segments.findIndex((s) => GLOB_CHARS.test(s));
    if (segments.slice(firstDynamic).includes('..')) throw new PathError('has ".." after a glob pattern');
    const prefix = segments.slice(0, firstDynamic).join('/') || '.';
    const base = await this.confine(raw.startsWith('/') && firstDynamic <= 1 ? '/' : prefix, roots);
    const pattern = path.join(base, ...segments.slice(firstDynamic));
    const matches = await expandInputs([pattern]).catch(() => []);
    for (const m of matches) await this.confine(m, roots);
    return pattern;
  }

  /**
   * The config with every path made absolute and checked, or a ValidationError naming each bad
   * field (the same `issues` shape as schema errors, so clients handle both alike).
   */
  async confineConfig(config: RunConfig): Promise<RunConfig> {
    const issues: { path: string; message: string }[] = [];
    const check = async (field: string, value: string, roots: readonly string[], glob = false): Promise<string> => {
      try {
        return glob && GLOB_CHARS.test(value) ? await this.confineGlob(value, roots) : await this.confine(value, roots);
      } catch (err) {
        if (!(err instanceof PathError)) throw err;
        issues.push({ path: field, message: `path ${err.message}` });
        return value;
      }
    };
    const runDir = await check('runDir', config.runDir, [this.runsRoot]);
    // The root holds every run; a run directory is one of them, never the root itself.
    if (path.resolve(this.runsRoot, config.runDir) === this.runsRoot)
      issues.push({ path: 'runDir', message: 'path must be a directory inside the runs root, not the root itself' });
    const inputs: string[] = [];
    for (const [i, p] of config.pool.inputs.entries())
      inputs.push(await check(`pool.inputs[${i}]`, p, this.dataRoots, true));
    const queries = [];
    for (const [i, q] of config.queries.entries())
      queries.push({ ...q, path: await check(`queries[${i}].path`, q.path, this.dataRoots) });
    const decontaminate = [];
    for (const [i, d] of config.decontaminate.entries())
      decontaminate.push({ ...d, path: await check(`decontaminate[${i}].path`, d.path, this.dataRoots) });
    const modelDir = await check('model.dir', config.model.dir, this.dataRoots);
    // The embedding cache is the server's (RDS_EMBEDDING_CACHE_DIR or its user cache): a client may
    // turn it off for its run, not point the server's writes somewhere else.
    if (config.cache !== false && config.cache.dir !== undefined)
      issues.push({
        path: 'cache.dir',
        message: "the embedding cache directory is the server's; leave cache.dir out (or set cache: false)",
      });
    let destination = config.handoff.destination;
    if (destination.kind === 'local' && destination.dir !== undefined) {
      destination = { ...destination, dir: await check('handoff.destination.dir', destination.dir, [this.runsRoot]) };
    }
    if (issues.length) {
      throw new ValidationError(
        `invalid request body:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
        issues,
      );
    }
    return {
      ...config,
      runDir,
      // The activities check again where they open the files (a path may be swapped for a symlink after this check).
      pool: { ...config.pool, inputs, roots: [...this.dataRoots] },
      queries,
      decontaminate,
      model: { ...config.model, dir: modelDir, roots: [...this.dataRoots] },
      handoff: { ...config.handoff, destination },
    };
  }

  /**
   * `text` (an error message for a client) with absolute paths under the roots (and the server's
   * working directory) made relative to them, so responses do not reveal the server's layout.
   */
  relativise(text: string): string {
    const prefixes = [this.runsRoot, ...this.dataRoots, process.cwd()]
      .map((p) => p + path.sep)
      .sort((a, b) => b.length - a.length);
    for (const p of prefixes) text = text.split(p).join('');
    return text;
  }

  /** Whether a run directory (e.g. reported by a Temporal run) lies inside the runs root, symlinks followed. */
  async isRunDirAllowed(runDir: string): Promise<boolean> {
    try {
      await this.confine(runDir, [this.runsRoot]);
      return true;
    } catch (err) {
      if (err instanceof PathError) return false;
      throw err;
    }
  }
}
