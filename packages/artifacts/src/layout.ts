import path from 'node:path';

/**
 * Where every artifact of a run lives. One function so that the CLI, the worker, the API and the
 * tests agree on paths; activities pass `runDir` around and derive the rest from here.
 */
export function runLayout(runDir: string) {
  const root = path.resolve(runDir);
  const shardName = (i: number) => `shard-${String(i).padStart(5, '0')}`;
  return {
    root,
    config: path.join(root, 'config.json'),
    pool: {
      dir: path.join(root, 'pool'),
      manifest: path.join(root, 'pool', 'manifest.json'),
      shard: (i: number) => path.join(root, 'pool', `${shardName(i)}.jsonl`),
      rejected: path.join(root, 'pool', 'rejected.jsonl'),
      /** Row-offset indexes of the shards (beside pool/, which holds only what the manifest vouches for as rows). */
      offsetsDir: path.join(root, 'pool-offsets'),
      offsets: (i: number) => path.join(root, 'pool-offsets', `${shardName(i)}.offsets`),
    },
    queries: {
      dir: path.join(root, 'queries'),
      /** Canonical (normalised) query set of a task. */
      file: (task: string) => path.join(root, 'queries', `${task}.jsonl`),
      /** Rows of a task's query set that failed validation (absent when none did). */
      rejected: (task: string) => path.join(root, 'queries', `${task}.rejected.jsonl`),
    },
    embeddings: {
      dir: path.join(root, 'embeddings'),
      poolManifest: (i: number) => path.join(root, 'embeddings', 'pool', `${shardName(i)}.manifest.json`),
      poolMatrix: (i: number) => path.join(root, 'embeddings', 'pool', `${shardName(i)}.bin`),
      /** In-progress state of an interrupted shard (checkpointed rows). */
      poolPartial: (i: number) => path.join(root, 'embeddings', 'pool', `${shardName(i)}.partial`),
      queryManifest: (task: string) => path.join(root, 'embeddings', 'queries', `${task}.manifest.json`),
      queryMatrix: (task: string) => path.join(root, 'embeddings', 'queries', `${task}.bin`),
    },
    scores: {
      dir: path.join(root, 'scores'),
      manifest: (task: string, aggregate: string) => path.join(root, 'scores', `${task}.${aggregate}.manifest.json`),
      file: (task: string, name: string) => path.join(root, 'scores', `${task}.${name}`),
    },
    selection: {
      dir: path.join(root, 'selection'),
      rows: path.join(root, 'selection', 'selection.jsonl'),
      summary: path.join(root, 'selection', 'summary.json'),
      /** Pool rows that are near-copies of query/evaluation examples (ContaminationReport). */
      contamination: path.join(root, 'selection', 'contamination.json'),
    },
    handoff: {
      dir: path.join(root, 'handoff'),
      receipt: path.join(root, 'handoff', 'receipt.json'),
    },
    /** Run status for UIs and `rds status` (stage, progress). */
    status: path.join(root, 'status.json'),
  };
}
export type RunLayout = ReturnType<typeof runLayout>;
