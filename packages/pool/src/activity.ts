import { activityRuntime, ProgressMeter, throwIfCancelled, withHeartbeats } from '@rds/artifacts';
import { IngestInput, parseOrThrow, type IngestOutput } from '@rds/schemas';
import { ingestPoolFiles, ingestQuerySet } from './ingest.js';

/**
 * Activity: ingest the pool and every task's query set into runDir. Idempotent: an intact pool
 * with the same fingerprint and unchanged query files make it a no-op (skipped: true).
 * Heartbeats byte progress (detail: rows read/kept) and stops cleanly between chunks on cancel.
 */
export async function ingestPool(input: IngestInput): Promise<IngestOutput> {
  const { runDir, pool, queries } = parseOrThrow(IngestInput, input, 'ingestPool input');
  const runtime = activityRuntime();
  let meter: ProgressMeter | undefined;
  // The skip path re-hashes every shard before any progress is reported: heartbeat on a timer throughout.
  const checking = { stage: 'ingest', done: 0, total: 0, unit: 'bytes', ratePerSec: 0, etaSec: null };
  const result = await withHeartbeats(
    runtime,
    () => meter?.snapshot() ?? checking,
    () =>
      ingestPoolFiles(runDir, pool, {
        signal: runtime.signal,
        onProgress: (p) => {
          meter ??= new ProgressMeter('ingest', p.bytesTotal, 'bytes', (progress) => runtime.heartbeat(progress));
          meter.update(p.bytesDone, { rows: p.rows, kept: p.kept, file: p.file });
        },
      }),
  );
  const { manifest } = result;
  meter?.update(
    manifest.inputs.reduce((n, f) => n + f.bytes, 0),
    { rows: manifest.counts.read, kept: manifest.counts.kept },
    true,
  );
  if (result.skipped)
    runtime.log(
      `pool already ingested (${manifest.counts.kept} rows, fingerprint ${manifest.fingerprint.slice(0, 12)})`,
    );

  let queriesWritten = false;
  const perTask: Record<string, { rows: number; rejected: number }> = {};
  for (const q of queries) {
    throwIfCancelled(runtime.signal);
    const r = await ingestQuerySet(runDir, q, pool.maxRowBytes, { signal: runtime.signal, roots: pool.roots });
    queriesWritten ||= r.written;
    perTask[q.task] = { rows: r.rows, rejected: r.rejected };
    if (r.rejected > 0) runtime.log(`query set ${q.task}: ${r.rejected} rows rejected (see ${r.rejectedFile})`);
  }
  return {
    skipped: result.skipped && !queriesWritten,
    shards: manifest.shards.length,
    rows: manifest.counts.kept,
    rejected: manifest.counts.rejected,
    duplicate: manifest.counts.duplicate,
    tasks: queries.map((q) => q.task),
    queries: perTask,
  };
}
