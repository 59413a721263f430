import { createHash, randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import {
  ProgressMeter,
  activityRuntime,
  cleanTempFiles,
  fileRef,
  readJsonFile,
  readJsonIfExists,
  runLayout,
  sha256File,
  verifyFileRef,
  waitToRetry,
  withHeartbeats,
  writeFileAtomic,
  writeJsonAtomic,
} from '@rds/artifacts';
import {
  ContaminationReport,
  HandoffConfig,
  HandoffInput,
  HandoffReceipt,
  ModelRef,
  PoolManifest,
  RunConfig,
  ValidationError,
  parseOrThrow,
  type FileRef,
  type HandoffOutput,
} from '@rds/schemas';
import { CardStats, DatasetCard, buildCard, cardMarkdown, histogram, histogramSvg } from './card.js';
import { datasetFileName, trainingFileWriter } from './formats.js';
import { materialise, type MaterialiseStats } from './materialise.js';
import { outputSlots } from './order.js';
import { s3Key, s3Location, uploadToS3 } from './s3.js';
import { readSelection, type SelectionTable } from './selection.js';
import { renderCommand, runCommand } from './triggers/command.js';
import { NonRetryableError, idempotencyKey, type HandoffPayload } from './triggers/payload.js';
import { runTemporalTrigger, temporalTriggerPlan } from './triggers/temporal.js';
import { sendWebhook } from './triggers/webhook.js';

export const CARD_FILE = 'card.json';
const HANDOFF_FORMATS = HandoffConfig.shape.format.unwrap().options;
export const README_FILE = 'README.md';
export const HISTOGRAM_FILE = 'scores.svg';

/** Knobs for tests and benchmarks; the activity uses the defaults. */
export interface HandoffOptions {
  /** Selected rows held in memory at once while ordering (default 16,384). */
  bucketRows?: number;
  webhook?: { baseDelayMs?: number; maxDelayMs?: number; timeoutMs?: number };
  s3PartBytes?: number;
  env?: NodeJS.ProcessEnv;
  temporalConnectTimeoutMs?: number;
}

export interface HandoffResult extends HandoffOutput {
  receipt: HandoffReceipt;
  card: DatasetCard;
  /** False when the dataset files were already complete (same fingerprint) and reused. */
  materialised: boolean;
  stats: MaterialiseStats | null;
}

const ModelOfManifest = z.object({ settings: z.object({ model: ModelRef }) }).loose();

/** Model id and checksum from the embedding manifests, if the run has any (optional for the card). */
async function modelOf(runDir: string, tasks: string[]): Promise<ModelRef | null> {
  const layout = runLayout(runDir);
  const candidates = [layout.embeddings.poolManifest(0), ...tasks.map((t) => layout.embeddings.queryManifest(t))];
  for (const file of candidates) {
    const m = await readJsonIfExists(file, ModelOfManifest);
    if (m) return m.settings.model;
  }
  return null;
}

/** The finished card in `dir` if it has this fingerprint and every file it vouches for still verifies. */
async function finishedCard(dir: string, fingerprint: string): Promise<DatasetCard | null> {
  const card = await readJsonIfExists(path.join(dir, CARD_FILE), DatasetCard).catch(() => null);
  if (card?.fingerprint !== fingerprint) return null;
  for (const ref of [card.dataset, ...card.files]) if (!(await verifyFileRef(ref, dir))) return null;
  return card;
}

const contentType = (name: string) =>
  name.endsWith('.parquet') ? 'application/vnd.apache.parquet' : name.endsWith('.jsonl') ? 'application/x-ndjson' : name.endsWith('.json') ? 'application/json' : name.endsWith('.svg') ? 'image/svg+xml' : 'text/markdown';

interface WriteContext {
  runDir: string;
  runId: string;
  outDir: string;
  fingerprint: string;
  input: HandoffInput;
  selection: SelectionTable;
  pool: PoolManifest;
  options: HandoffOptions;
  /** Where the dataset file will be published (path or s3:// URL), for the rendered command. */
  datasetLocation: string;
}

/** Materialise the training file, then the histogram, README and (last: it vouches for the rest) card.json. */
async function writeDataset(ctx: WriteContext): Promise<{ card: DatasetCard; stats: MaterialiseStats }> {
  const rt = activityRuntime();
  const { handoff } = ctx.input;
  const layout = runLayout(ctx.runDir);
  const sel = ctx.selection;
  const fileName = datasetFileName(handoff.format);
  const writer = trainingFileWriter(handoff.format, path.join(ctx.outDir, fileName), handoff.includeMetadata);
  const cardStats = new CardStats();
  const stats: MaterialiseStats = { poolRowsScanned: 0, buckets: 0, duplicateIds: 0 };
  const poolRows = ctx.pool.shards.reduce((a, s) => a + s.rows, 0);
  const scan = new ProgressMeter('handoff:scan-pool', poolRows, 'rows', (p) => rt.heartbeat(p));
  const emit = new ProgressMeter('handoff:write', sel.count, 'rows', (p) => rt.heartbeat(p));
  let written;
  try {
    let n = 0;
    const rows = materialise(
      {
        runDir: ctx.runDir,
        manifest: ctx.pool,
        selection: sel,
        slots: outputSlots(sel.count, handoff.order, sel.summary.seed),
        scratchDir: path.join(ctx.outDir, `.scratch-${process.pid}-${randomBytes(4).toString('hex')}`),
        signal: rt.signal,
        bucketRows: ctx.options.bucketRows,
        onScan: (done) => scan.update(done),
      },
      stats,
    );
    for await (const { example, position } of rows) {
      const task = sel.taskOf[position]! >= 0 ? sel.tasks[sel.taskOf[position]!]! : null;
      const score = Number.isNaN(sel.score[position]!) ? null : sel.score[position]!;
      cardStats.add(task, example.source, score);
      await writer.add(example, handoff.includeMetadata ? { source: example.source, task, score, rank: position } : null);
      if ((++n & 0xfff) === 0) emit.update(n);
    }
    written = await writer.commit();
    emit.update(n, undefined, true);
  } catch (err) {
    await writer.abort();
    throw err;
  }

  const hist = histogram(cardStats.scores);
  await writeFileAtomic(path.join(ctx.outDir, HISTOGRAM_FILE), histogramSvg(hist));
  const config = await readJsonIfExists(layout.config, RunConfig);
  const trigger = handoff.trigger;
  const card = buildCard({
    runId: ctx.runId,
    fingerprint: ctx.fingerprint,
    dataset: { file: fileName, ...written, format: handoff.format, order: handoff.order, includeMetadata: handoff.includeMetadata, rows: sel.count },
    histogramFile: await fileRef(path.join(ctx.outDir, HISTOGRAM_FILE), ctx.outDir),
    histogram: hist,
    stats: cardStats,
    summary: sel.summary,
    pool: ctx.pool,
    model: await modelOf(ctx.runDir, sel.summary.tasks ?? sel.tasks),
    config,
    configPath: layout.config,
    ...(await contaminationOf(ctx.runDir, sel)),
    trigger: {
      kind: trigger.kind,
      ...(trigger.kind === 'command'
        ? { command: renderCommand(trigger.template, { dataset: ctx.datasetLocation, runId: ctx.runId, rows: sel.count, format: handoff.format }) }
        : {}),
    },
  });
  await writeFileAtomic(path.join(ctx.outDir, README_FILE), cardMarkdown(card));
  await writeJsonAtomic(path.join(ctx.outDir, CARD_FILE), parseOrThrow(DatasetCard, card, 'dataset card'));
  return { card, stats };
}

/**
 * Materialise, describe, publish and announce a selection. Each step is idempotent: the dataset is
 * rewritten only when its inputs or settings changed (card fingerprint), S3 objects with the same
 * checksum are not re-sent, and a receipt with the same idempotency key (run id + dataset checksum)
 * means the trigger already fired: the call returns `skipped` and sends nothing.
 */
export async function runHandoff(raw: HandoffInput, options: HandoffOptions = {}): Promise<HandoffResult> {
  const input = parseOrThrow(HandoffInput, raw, 'handoffSelection input');
  const rt = activityRuntime();
  const env = options.env ?? process.env;
  const layout = runLayout(input.runDir);
  const { handoff } = input;
  const dest = handoff.destination;
  const outDir = dest.kind === 'local' ? path.resolve(dest.dir ?? layout.handoff.dir) : layout.handoff.dir;

  const selection = await readSelection(input.runDir);
  const pool = await readJsonFile(layout.pool.manifest, PoolManifest);
  const fingerprint = createHash('sha256')
    .update(
      JSON.stringify({
        version: 1,
        runId: input.runId,
        selection: selection.summary.selection.sha256,
        seed: selection.summary.seed,
        pool: [pool.fingerprint, pool.shards.map((s) => s.sha256)],
        // The card embeds the run config: an edited config.json means a new card.
        config: await sha256File(layout.config).catch(() => null),
        handoff,
        // The card reports the contamination check (only keyed when there is one: older cards stay valid).
        ...(selection.summary.contamination ? { contamination: selection.summary.contamination.sha256 } : {}),
      }),
    )
    .digest('hex');
  const fileName = datasetFileName(handoff.format);
  const location = dest.kind === 's3' ? s3Location(dest) : outDir;
  const datasetLocation = dest.kind === 's3' ? `s3://${dest.bucket}/${s3Key(dest, fileName)}` : path.join(outDir, fileName);

  let card = await finishedCard(outDir, fingerprint);
  let stats: MaterialiseStats | null = null;
  const materialised = !card;
  if (card) {
    rt.log(`handoff files in ${outDir} are up to date (${card.dataset.rows} rows); not rewriting`);
  } else {
    await cleanTempFiles(outDir);
    ({ card, stats } = await writeDataset({ runDir: input.runDir, runId: input.runId, outDir, fingerprint, input, selection, pool, options, datasetLocation }));
    // A training file of another format (the handoff's format was switched) is not this handoff's:
    // only the files the card and receipt name stay beside them.
    for (const format of HANDOFF_FORMATS) if (datasetFileName(format) !== fileName) await fsp.rm(path.join(outDir, datasetFileName(format)), { force: true });
  }

  const key = idempotencyKey(input.runId, card.dataset.sha256);
  const previous = await readJsonIfExists(layout.handoff.receipt, HandoffReceipt).catch(() => null);
  if (previous && previous.trigger.idempotencyKey === key && previous.location === location && previous.trigger.status !== 'failed') {
    rt.log(`receipt ${layout.handoff.receipt} already records this dataset (trigger ${previous.trigger.status}); nothing to send`);
    return { skipped: true, location, rows: previous.rows, triggerStatus: previous.trigger.status, receipt: previous, card, materialised, stats };
  }

  const files: FileRef[] = [
    { file: card.dataset.file, bytes: card.dataset.bytes, sha256: card.dataset.sha256 },
    ...card.files,
    await fileRef(path.join(outDir, README_FILE), outDir),
    await fileRef(path.join(outDir, CARD_FILE), outDir),
  ];
  // Uploads and triggers wait on other services: heartbeat on a timer meanwhile (liveness, cancellation).
  const waiting = (step: string, done = 0, total = 1) => () => ({ stage: `handoff:${step}`, done, total, unit: 'steps', ratePerSec: 0, etaSec: null });
  if (dest.kind === 's3') {
    const up = await withHeartbeats(rt, waiting('upload'), () =>
      uploadToS3(
        dest,
        files.map((f) => ({ path: path.join(outDir, f.file), name: f.file, bytes: f.bytes, sha256: f.sha256, contentType: contentType(f.file) })),
        rt.signal,
        options.s3PartBytes,
      ),
    );
    rt.log(`published to ${up.location}: ${up.uploaded.length} uploaded, ${up.unchanged.length} already there`);
  }

  const counts = {
    perTask: card.counts.perTask,
    perSource: Object.fromEntries(Object.entries(card.counts.perSource).filter(([, c]) => c.selected > 0).map(([s, c]) => [s, c.selected])),
  };
  const payload: HandoffPayload = {
    runId: input.runId,
    idempotencyKey: key,
    location,
    dataset: { location: datasetLocation, format: handoff.format, rows: card.dataset.rows, bytes: card.dataset.bytes, sha256: card.dataset.sha256 },
    files,
    counts,
  };
  const receipt: HandoffReceipt = {
    kind: 'receipt',
    version: 1,
    runId: input.runId,
    location,
    files,
    rows: card.dataset.rows,
    trigger: { kind: handoff.trigger.kind, idempotencyKey: key, status: 'skipped' },
    format: handoff.format,
    datasetSha256: card.dataset.sha256,
    counts,
    createdAt: new Date().toISOString(),
  };
  const writeReceipt = () => writeJsonAtomic(layout.handoff.receipt, parseOrThrow(HandoffReceipt, receipt, 'handoff receipt'));

  const trigger = handoff.trigger;
  const renderedCommand = card.trigger.command;
  try {
    await withHeartbeats(rt, waiting('trigger'), () => fireTrigger());
  } catch (err) {
    // Record the failure (a re-run tries again: only a successful receipt is final), then fail the activity.
    receipt.trigger.status = 'failed';
    receipt.trigger.detail = (err as Error).message.slice(0, 2000);
    await writeReceipt();
    throw err;
  }
  await writeReceipt();
  rt.log(`handed off ${receipt.rows} rows to ${location} (trigger ${trigger.kind}: ${receipt.trigger.status})`);
  return { skipped: false, location, rows: receipt.rows, triggerStatus: receipt.trigger.status, receipt, card, materialised, stats };

  async function fireTrigger(): Promise<void> {
    if (trigger.kind === 'webhook') {
      const secret = env[trigger.secretEnv];
      if (!secret) throw new ValidationError(`handoff.trigger.secretEnv: environment variable ${trigger.secretEnv} is not set (it holds the webhook's HMAC secret)`);
      const res = await sendWebhook({
        url: trigger.url,
        secret,
        payload,
        maxAttempts: trigger.maxAttempts,
        maxRetryMs: trigger.maxRetrySeconds * 1000,
        signal: rt.signal,
        log: rt.log,
        retryAfter: (ms, reason) => waitToRetry(rt, ms, reason),
        ...options.webhook,
      });
      Object.assign(receipt.trigger, { status: 'sent', attempts: res.attempts, detail: res.detail });
    } else if (trigger.kind === 'temporal') {
      const res = await runTemporalTrigger(temporalTriggerPlan(trigger, payload, env), options.temporalConnectTimeoutMs);
      Object.assign(receipt.trigger, res);
    } else if (trigger.kind === 'command') {
      const command = renderedCommand!;
      receipt.trigger.command = command;
      receipt.trigger.status = 'rendered';
      if (trigger.run) {
        const res = await runCommand(command, rt.signal, 4096, outDir);
        Object.assign(receipt.trigger, { exitCode: res.exitCode, outputTail: res.outputTail });
        if (res.exitCode !== 0) throw new NonRetryableError(`handoff command exited with code ${res.exitCode}: ${command}\n${res.outputTail.slice(-1000)}`);
        receipt.trigger.status = 'ran';
      }
    }
  }
}

/** The `handoffSelection` activity (HandoffInput -> HandoffOutput; small payloads only). */
export async function handoffSelection(raw: HandoffInput): Promise<HandoffOutput> {
  const { skipped, location, rows, triggerStatus } = await runHandoff(raw);
  return { skipped, location, rows, triggerStatus };
}

/** The selection's contamination report (checked against the summary) and the dataset's ids, for the card. */
async function contaminationOf(runDir: string, sel: SelectionTable): Promise<{ contamination: ContaminationReport | null; selectedIds: Set<string> | null }> {
  const ref = sel.summary.contamination;
  if (!ref) return { contamination: null, selectedIds: null };
  const layout = runLayout(runDir);
  if (!(await verifyFileRef(ref, layout.selection.dir))) {
    throw new ValidationError(`${layout.selection.contamination} does not match the checksum in ${layout.selection.summary}; run select again`);
  }
  const contamination = await readJsonFile(layout.selection.contamination, ContaminationReport);
  const selectedIds = contamination.rows.length && !contamination.excluded ? new Set(sel.ids) : null;
  return { contamination, selectedIds };
}
