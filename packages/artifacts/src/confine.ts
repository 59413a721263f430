import fs from 'node:fs';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '@rds/schemas';

/** Whether `target` is `root` or lies below it (both absolute); `..name` is an ordinary name inside. */
export function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

const realRoots = new Map<string, string>();
/** The real path of a root (cached: roots are configuration, not input). */
function realRoot(root: string): string {
  let real = realRoots.get(root);
  if (real === undefined) {
    try {
      real = fs.realpathSync(root);
    } catch {
      real = path.resolve(root);
    }
    realRoots.set(root, real);
  }
  return real;
}

function outside(file: string): ValidationError {
  return new ValidationError(`${file} leads outside the allowed data roots (through a symlink)`);
}

/**
 * Open `file` for reading, and when `roots` are given require that the file actually opened lies
 * inside one of them, symlinks resolved. On Linux the check is made on the open descriptor
 * (/proc/self/fd), so swapping the path for a symlink at any moment cannot redirect the read;
 * elsewhere the real path is checked and the opened file must be the same inode.
 */
export async function openConfined(file: string, roots: readonly string[] | undefined): Promise<FileHandle> {
  if (!roots || roots.length === 0) return fsp.open(file, 'r');
  const handle = await fsp.open(file, 'r');
  try {
    let real: string;
    if (process.platform === 'linux') {
      real = await fsp.readlink(`/proc/self/fd/${handle.fd}`);
    } else {
      real = await fsp.realpath(file);
      const [a, b] = await Promise.all([handle.stat(), fsp.stat(real)]);
      if (a.ino !== b.ino || a.dev !== b.dev) throw outside(file);
    }
    if (!roots.some((r) => isInside(realRoot(r), real))) throw outside(file);
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The real path of `target` (a file or directory that must exist), required to lie inside `roots` when given. */
export async function realpathConfined(target: string, roots: readonly string[] | undefined): Promise<string> {
  const real = await fsp.realpath(target);
  if (roots && roots.length > 0 && !roots.some((r) => isInside(realRoot(r), real))) throw outside(target);
  return real;
}
