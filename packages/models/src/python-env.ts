import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, sha256File, writeJsonAtomic } from '@rds/artifacts';
import { cacheRoot, PYTHON_DIR } from './cache.js';

export const REQUIREMENTS = path.join(PYTHON_DIR, 'requirements.txt');

const Stamp = z.object({ requirementsSha256: z.string(), python: z.string() });

export interface PythonEnv {
  dir: string;
  python: string;
}

/** Run a command; resolve with stdout, reject with the tail of stderr. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; log?: (m: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env },
    });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-20_000);
    });
    child.on('error', (e) => reject(new Error(`${cmd}: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new Error(
            `${path.basename(cmd)} ${args.slice(0, 3).join(' ')} exited with ${code}:\n${err.split('\n').slice(-25).join('\n')}`,
          ),
        );
    });
    child.stdin.on('error', () => undefined); // a child that exits early closes its stdin; the exit code reports it
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * The exporter's virtualenv, created from the committed, fully pinned python/requirements.txt the first
 * time (a few minutes: torch is most of it) and reused after. It lives under a directory named by the
 * requirements' checksum, so changing a pin makes a new one. A stamp is written only after pip
 * succeeded: an interrupted install has none and is removed and redone. Installed with --no-deps, so
 * exactly the pinned set goes in (torch's CUDA wheels are left out: the export runs on CPU).
 */
export async function ensurePythonEnv(opts: { root?: string; log?: (m: string) => void } = {}): Promise<PythonEnv> {
  const log = opts.log ?? ((m: string) => console.error(m));
  const reqSha = await sha256File(REQUIREMENTS);
  const dir = path.join(opts.root ?? cacheRoot(), 'python', reqSha.slice(0, 16));
  const python = path.join(dir, 'bin', 'python');
  const stampFile = path.join(dir, '.rds-ready.json');
  const stamp = await readJsonIfExists(stampFile, Stamp).catch(() => null);
  if (stamp && stamp.requirementsSha256 === reqSha && fs.existsSync(python)) return { dir, python };

  const basePython = process.env.RDS_PYTHON ?? 'python3';
  log(
    `creating the exporter's Python environment in ${dir} (pinned ${path.relative(process.cwd(), REQUIREMENTS) || REQUIREMENTS}; once, a few minutes)`,
  );
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(path.dirname(dir), { recursive: true });
  try {
    await run(basePython, ['-m', 'venv', dir]);
  } catch (err) {
    throw new Error(
      `could not create a Python virtualenv with ${basePython} (needs Python >= 3.9 with venv; Debian: apt-get install python3-venv; or set RDS_PYTHON): ${(err as Error).message}`,
    );
  }
  await run(python, [
    '-m',
    'pip',
    'install',
    '--quiet',
    '--disable-pip-version-check',
    '--no-deps',
    '-r',
    REQUIREMENTS,
  ]);
  const version = (await run(python, ['-c', 'import sys; print(sys.version.split()[0])'])).trim();
  await writeJsonAtomic(stampFile, { requirementsSha256: reqSha, python: version });
  return { dir, python };
}

/** The environment if it is already installed (tests use it for the Hugging Face reference), else an error saying how to make it. */
export async function existingPythonEnv(root = cacheRoot()): Promise<PythonEnv> {
  const reqSha = await sha256File(REQUIREMENTS);
  const dir = path.join(root, 'python', reqSha.slice(0, 16));
  const stamp = await readJsonIfExists(path.join(dir, '.rds-ready.json'), Stamp).catch(() => null);
  if (!stamp || stamp.requirementsSha256 !== reqSha) {
    throw new Error(
      `the exporter's Python environment is not installed at ${dir}: run \`npx rds model fetch smollm2-135m\` (CI: .ci/run does)`,
    );
  }
  return { dir, python: path.join(dir, 'bin', 'python') };
}
