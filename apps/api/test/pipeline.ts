import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runLayout, writeFileAtomic, writeJsonAtomic } from '@rds/artifacts';
import { handoffSelection } from '@rds/handoff';
import { ingestPool } from '@rds/pool';
import { Example, PoolManifest, type ScoresManifest } from '@rds/schemas';
import { selectPool } from '@rds/selectors';
import type { RunActivities } from '@rds/workflows/plan';
import { fakeActivities } from '../../../packages/runner/test/fake-activities.js';

/** Word sets of an example's text (lower-cased alphanumeric runs). */
function words(e: Example): Set<string> {
  return new Set(
    e.messages
      .map((m) => m.content)
      .join(' ')
      .toLowerCase()
      .match(/[a-z0-9]+/g) ?? [],
  );
}

function jaccard(a: Set<string>, b: Set<string>): number {
  let common = 0;
  for (const w of a) if (b.has(w)) common++;
  return common / (a.size + b.size - common || 1);
}

const readJsonl = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => Example.parse(JSON.parse(l)));
const bytes = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Scores without a language model: word-overlap (Jaccard) similarity of every pool row to every
 * query, written as the score files vector-index produces (per-task max, per-query top-K), so the
 * real selectPool and handoffSelection run on them. Meaningful enough that math rows match math
 * queries, which the UI's "why was this selected" view shows.
 */
async function scoreByWordOverlap(runDir: string, tasks: string[], topK: number): Promise<void> {
  const layout = runLayout(runDir);
  const manifest = PoolManifest.parse(JSON.parse(fs.readFileSync(layout.pool.manifest, 'utf8')));
  const pool = manifest.shards.flatMap((s) => readJsonl(path.join(layout.pool.dir, s.file))).map(words);
  for (const task of tasks) {
    const queries = readJsonl(layout.queries.file(task)).map(words);
    const sims = queries.map((q) => Float32Array.from(pool, (p) => jaccard(p, q)));
    const max = Float32Array.from(pool, (_, r) => Math.max(...sims.map((s) => s[r]!)));
    const k = Math.min(topK, pool.length);
    const ids = new Int32Array(queries.length * k);
    const scores = new Float32Array(queries.length * k);
    sims.forEach((s, qi) => {
      const order = Array.from(s.keys())
        .sort((a, b) => s[b]! - s[a]! || a - b)
        .slice(0, k);
      order.forEach((r, i) => {
        ids[qi * k + i] = r;
        scores[qi * k + i] = s[r]!;
      });
    });
    const write = async (aggregate: 'max' | 'topk', files: [string, Uint8Array][]) => {
      for (const [name, data] of files) await writeFileAtomic(layout.scores.file(task, name), data);
      const m: ScoresManifest = {
        kind: 'scores',
        version: 1,
        task,
        aggregate,
        rows: pool.length,
        queries: queries.length,
        ...(aggregate === 'topk' ? { k } : {}),
        files: files.map(([name, data]) => ({
          file: path.basename(layout.scores.file(task, name)),
          bytes: data.byteLength,
          sha256: sha(data),
        })),
        embeddingsFingerprint: 'b'.repeat(64),
        createdAt: new Date().toISOString(),
      };
      await writeJsonAtomic(layout.scores.manifest(task, aggregate), m);
    };
    await write('max', [['max.f32', bytes(max)]]);
    await write('topk', [
      ['topk.ids.i32', bytes(ids)],
      ['topk.scores.f32', bytes(scores)],
    ]);
  }
}

/**
 * The real ingest, selection and handoff activities around stand-ins for the two model stages (the
 * runner's fakes: they heartbeat, honour cancellation and take `shardMs` per shard, which gives
 * pause/cancel time to act) and word-overlap scoring.
 */
export function pipelineActivities(opts: { shardMs: number }): RunActivities {
  const fake = fakeActivities({ shards: 1, rowsPerShard: 20, shardMs: opts.shardMs }).activities;
  return {
    ...fake,
    ingestPool,
    async scorePool({ runDir, tasks, scoring }) {
      await scoreByWordOverlap(runDir, tasks, scoring.topK);
      return { skipped: false, tasks, seconds: 0 };
    },
    selectPool,
    handoffSelection,
  };
}
