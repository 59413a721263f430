import { createHash, randomBytes } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import {
  CARD_FILE,
  HISTOGRAM_FILE,
  README_FILE,
  ProgressMeter,
  activityRuntime,
  finishedDatasetCard,
  readHandoffReceipt,
  writeDatasetCard,
  writeHandoffReceipt,
  cleanTempFiles,
  fileRef,
  readJsonIfExists,
  readContaminationReport,
  readPoolRows,
  readSelectedRows,
  runLayout,
  sha256File,
  waitToRetry,
  withHeartbeats,
  writeFileAtomic,
  type RowTable,
  type SelectionTable,
  readPoolManifest,
  readEmbeddingProvenance,
} from '@rds/artifacts';
import {
  ContaminationReport,
  DatasetCard,
  HandoffConfig,
  HandoffInput,
  HandoffReceipt,
  PoolManifest,
  RunConfig,
  ValidationError,
  parseOrThrow,
  type CardBaseline,
  type FileRef,
  type HandoffOutput,
  type ReceiptTrigger,
} from '@rds/schemas';
import {
  BASELINES_DIR,
  baselineFile,
  baselineSelection,
  baselineSpecs,
  type BaselineSpec,
  type SelectBaseline,
} from './baselines.js';
import { CardStats, NO_TASK, buildCard, cardMarkdown, histogram, histogramSvg, perSourceCounts } from './card.js';
import { datasetFileName, trainingFileWriter } from './formats.js';
import { materialise, type MaterialiseStats } from './materialise.js';
import { outputSlots } from './order.js';
import { s3Key, s3Location, uploadToS3 } from './s3.js';
import { renderCommand, runCommand } from './triggers/command.js';
import { NonRetryableError, idempotencyKey, type HandoffPayload } from './triggers/payload.js';
import { runTemporalTrigger, temporalTriggerPlan } from './triggers/temporal.js';
import { sendWebhook } from './triggers/webhook.js';

const HANDOFF_FORMATS = HandoffConfig.shape.format.unwrap().options;

/** What runHandoff is given: the baseline draw, and knobs for tests and benchmarks (the activity uses their defaults). */
export interface HandoffOptions {
  /** Draws the matched baselines (@rds/selectors' `select`, from the composition root); needed when any are asked for. */
  selectBaseline?: SelectBaseline;
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

/** The card's model and embedding lines (the model is optional for the card: a run may have no manifest). */
async function embeddingOf(runDir: string, shards: number, tasks: string[]) {
  const e = await readEmbeddingProvenance(runDir, shards, tasks);
  return { model: e.model, embedding: { poolRows: e.poolRows, fromCache: e.poolRowsFromCache } };
}

const contentType = (name: string) =>
  name.endsWith('.parquet')
    ? 'application/vnd.apache.parquet'
    : name.endsWith('.jsonl')
      ? 'application/x-ndjson'
      : name.endsWith('.json')
        ? 'application/json'
        : name.endsWith('.svg')
          ? 'image/svg+xml'
          : 'text/markdown';

interface WriteContext {
  runDir: string;
  runId: string;
  outDir: string;
  fingerprint: string;
  input: HandoffInput;
  selection: SelectionTable;
  pool: PoolManifest;
  options: HandoffOptions;
  baselines: BaselineSpec[];
  /** Where a file (relative to outDir) will be published (path or s3:// URL), for the rendered commands. */
  locate: (file: string) => string;
}

/** Stream one table of rows into a training file at `target`; the card's tallies of what was written. */
async function writeTrainingFile(
  ctx: WriteContext,
  sel: RowTable,
  target: string,
  seed: number,
  stage: string,
  stats: MaterialiseStats,
) {
  const rt = activityRuntime();
  const { handoff } = ctx.input;
  const writer = trainingFileWriter(handoff.format, target, handoff.includeMetadata);
  const cardStats = new CardStats();
  const poolRows = ctx.pool.shards.reduce((a, s) => a + s.rows, 0);
  const scan = new ProgressMeter(`${stage}:scan-pool`, poolRows, 'rows', (p) => rt.heartbeat(p));
  const emit = new ProgressMeter(`${stage}:write`, sel.count, 'rows', (p) => rt.heartbeat(p));
  try {
    let n = 0;
    const rows = materialise(
      {
        runDir: ctx.runDir,
        manifest: ctx.pool,
        selection: sel,
        slots: outputSlots(sel.count, handoff.order, seed),
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
      await writer.add(
        example,
        handoff.includeMetadata ? { source: example.source, task, score, rank: position } : null,
      );
      if ((++n & 0xfff) === 0) emit.update(n);
    }
    const written = await writer.commit();
    emit.update(n, undefined, true);
    return { written, cardStats };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/**
 * The matched baselines: each drawn over the whole ingested pool (less the rows the selection
 * excluded as contaminated) with exactly as many rows as the selection, then written like the main
 * file under baselines/<name>/.
 */
async function writeBaselines(ctx: WriteContext): Promise<CardBaseline[]> {
  if (ctx.baselines.length === 0) return [];
  const selectBaseline = requireSelectBaseline(ctx.options);
  const rt = activityRuntime();
  const { handoff } = ctx.input;
  const layout = runLayout(ctx.runDir);
  const meter = new ProgressMeter(
    'handoff:baselines:read-pool',
    ctx.pool.shards.reduce((a, s) => a + s.rows, 0),
    'rows',
    (p) => rt.heartbeat(p),
  );
  const pool = await readPoolRows(ctx.runDir, rt.signal, (rows) => meter.update(rows));
  if (pool.manifest.fingerprint !== ctx.pool.fingerprint)
    throw new Error(`${layout.pool.manifest} changed during the handoff; run it again`);
  const { contamination } = await contaminationOf(ctx.runDir, ctx.selection);
  let excluded: Uint8Array | undefined;
  if (contamination?.excluded) {
    excluded = new Uint8Array(pool.rows);
    for (const r of contamination.rows) excluded[r.row] = 1;
  }
  const out: CardBaseline[] = [];
  for (const spec of ctx.baselines) {
    const table = await baselineSelection(pool, spec, ctx.selection.count, selectBaseline, rt.signal, excluded);
    const file = baselineFile(spec, handoff.format);
    await cleanTempFiles(path.dirname(path.join(ctx.outDir, file)));
    const stats: MaterialiseStats = { poolRowsScanned: 0, buckets: 0, duplicateIds: 0 };
    const { written, cardStats } = await writeTrainingFile(
      ctx,
      table,
      path.join(ctx.outDir, file),
      spec.seed,
      `handoff:baseline:${spec.name}`,
      stats,
    );
    const trigger = handoff.trigger;
    out.push({
      name: spec.name,
      strategy: spec.strategy,
      seed: spec.seed,
      dataset: {
        file,
        ...written,
        format: handoff.format,
        order: handoff.order,
        includeMetadata: handoff.includeMetadata,
        rows: table.count,
      },
      counts: { perSource: perSourceCounts(ctx.pool, cardStats, table.count) },
      ...(trigger.kind === 'command'
        ? {
            command: renderCommand(trigger.template, {
              dataset: ctx.locate(file),
              runId: ctx.runId,
              rows: table.count,
              format: handoff.format,
              name: spec.name,
            }),
          }
        : {}),
    });
  }
  return out;
}

/** Materialise the training file and the baselines, then the histogram, README and (last: it vouches for the rest) card.json. */
async function writeDataset(ctx: WriteContext): Promise<{ card: DatasetCard; stats: MaterialiseStats }> {
  const { handoff } = ctx.input;
  const layout = runLayout(ctx.runDir);
  const sel = ctx.selection;
  const fileName = datasetFileName(handoff.format);
  const stats: MaterialiseStats = { poolRowsScanned: 0, buckets: 0, duplicateIds: 0 };
  const { written, cardStats } = await writeTrainingFile(
    ctx,
    sel,
    path.join(ctx.outDir, fileName),
    sel.summary.seed,
    'handoff',
    stats,
  );
  const baselines = await writeBaselines(ctx);

  const hist = histogram(cardStats.scores);
  await writeFileAtomic(path.join(ctx.outDir, HISTOGRAM_FILE), histogramSvg(hist));
  const config = await readJsonIfExists(layout.config, RunConfig);
  const trigger = handoff.trigger;
  const card = buildCard({
    runId: ctx.runId,
    fingerprint: ctx.fingerprint,
    dataset: {
      file: fileName,
      ...written,
      format: handoff.format,
      order: handoff.order,
      includeMetadata: handoff.includeMetadata,
      rows: sel.count,
    },
    histogramFile: await fileRef(path.join(ctx.outDir, HISTOGRAM_FILE), ctx.outDir),
    histogram: hist,
    stats: cardStats,
    summary: sel.summary,
    pool: ctx.pool,
    ...(await embeddingOf(ctx.runDir, ctx.pool.shards.length, sel.summary.tasks ?? sel.tasks)),
    config,
    configPath: layout.config,
    ...(await contaminationOf(ctx.runDir, sel)),
    trigger: {
      kind: trigger.kind,
      ...(trigger.kind === 'command'
        ? {
            command: renderCommand(trigger.template, {
              dataset: ctx.locate(fileName),
              runId: ctx.runId,
              rows: sel.count,
              format: handoff.format,
              name: 'selection',
            }),
          }
        : {}),
    },
    baselines,
  });
  await writeFileAtomic(path.join(ctx.outDir, README_FILE), cardMarkdown(card));
  await writeDatasetCard(ctx.outDir, card);
  return { card, stats };
}

/** Leave only this handoff's training files: other formats' (the format was switched) and baselines no longer asked for go. */
async function removeStaleFiles(outDir: string, fileName: string, baselines: BaselineSpec[]): Promise<void> {
  const others = HANDOFF_FORMATS.map(datasetFileName).filter((f) => f !== fileName);
  for (const other of others) await fsp.rm(path.join(outDir, other), { force: true });
  const dir = path.join(outDir, BASELINES_DIR);
  if (baselines.length === 0) return fsp.rm(dir, { recursive: true, force: true });
  const keep = new Set(baselines.map((b) => b.name));
  for (const entry of await fsp.readdir(dir)) {
    if (!keep.has(entry)) await fsp.rm(path.join(dir, entry), { recursive: true, force: true });
    else for (const other of others) await fsp.rm(path.join(dir, entry, other), { force: true });
  }
}

/** One training file's announcement: its payload, rendered command and what its trigger did. */
interface Announcement {
  payload: HandoffPayload;
  command: string | undefined;
  trigger: ReceiptTrigger;
  /** Already announced (same key, same location, not failed) by an earlier run: not sent again. */
  done: boolean;
}

/**
 * Materialise, describe, publish and announce a selection (and its matched baselines, if asked).
 * Each step is idempotent: the files are rewritten only when their inputs or settings changed (card
 * fingerprint), S3 objects with the same checksum are not re-sent, and a receipt entry with the same
 * idempotency key (run id + file checksum [+ baseline name]) means that file's trigger already fired:
 * it is not sent again, and when every file's was, the call returns `skipped` and sends nothing.
 */
export async function runHandoff(raw: HandoffInput, options: HandoffOptions = {}): Promise<HandoffResult> {
  const input = parseOrThrow(HandoffInput, raw, 'handoffSelection input');
  const rt = activityRuntime();
  const layout = runLayout(input.runDir);
  const dest = input.handoff.destination;
  const outDir = dest.kind === 'local' ? path.resolve(dest.dir ?? layout.handoff.dir) : layout.handoff.dir;
  const specs = baselineSpecs(input.handoff.baselines);
  if (specs.length > 0) requireSelectBaseline(options); // before any work, not after the main file
  const location = dest.kind === 's3' ? s3Location(dest) : outDir;
  const locate = (file: string) =>
    dest.kind === 's3' ? `s3://${dest.bucket}/${s3Key(dest, file)}` : path.join(outDir, file);

  const { card, stats, materialised } = await ensureDataset(input, options, outDir, specs, locate);
  const previous = await readHandoffReceipt(input.runDir);
  const plan = await announcements(input, card, outDir, location, locate, previous);
  const receipt = receiptOf(input, card, location, plan);
  if (previous && plan.all.every((a) => a.done) && (previous.baselines?.length ?? 0) === plan.baselines.length) {
    rt.log(
      `receipt ${layout.handoff.receipt} already records these ${plan.all.length} file(s) (trigger ${previous.trigger.status}); nothing to send`,
    );
    return {
      skipped: true,
      location,
      rows: previous.rows,
      triggerStatus: previous.trigger.status,
      receipt: previous,
      card,
      materialised,
      stats,
    };
  }

  if (dest.kind === 's3') await publishToS3(dest, outDir, receipt.files, options);
  const failure = await fireTriggers(plan.all, input.handoff.trigger, outDir, options);
  await writeHandoffReceipt(input.runDir, receipt);
  if (failure) throw failure;
  rt.log(
    `handed off ${receipt.rows} rows${plan.baselines.length ? ` and ${plan.baselines.length} baselines` : ''} to ${location} (trigger ${input.handoff.trigger.kind}: ${receipt.trigger.status})`,
  );
  return {
    skipped: false,
    location,
    rows: receipt.rows,
    triggerStatus: receipt.trigger.status,
    receipt,
    card,
    materialised,
    stats,
  };
}

/**
 * The dataset files and their card: reused when `outDir` already holds a card with this
 * fingerprint whose files verify, else written again (and files no longer named removed).
 */
async function ensureDataset(
  input: HandoffInput,
  options: HandoffOptions,
  outDir: string,
  specs: BaselineSpec[],
  locate: (file: string) => string,
): Promise<{ card: DatasetCard; stats: MaterialiseStats | null; materialised: boolean }> {
  const rt = activityRuntime();
  const selection = await readSelectedRows(input.runDir);
  const pool = await readPoolManifest(input.runDir);
  const fingerprint = await cardFingerprint(input, selection, pool);
  const card = await finishedDatasetCard(outDir, fingerprint);
  if (card) {
    rt.log(
      `handoff files in ${outDir} are up to date (${card.dataset.rows} rows, ${card.baselines.length} baselines); not rewriting`,
    );
    return { card, stats: null, materialised: false };
  }
  await cleanTempFiles(outDir);
  const written = await writeDataset({
    runDir: input.runDir,
    runId: input.runId,
    outDir,
    fingerprint,
    input,
    selection,
    pool,
    options,
    baselines: specs,
    locate,
  });
  // Only the files the card and receipt name stay beside them.
  await removeStaleFiles(outDir, datasetFileName(input.handoff.format), specs);
  return { ...written, materialised: true };
}

/** What the card's files depend on: same fingerprint = the files on disk are still the right ones. */
async function cardFingerprint(input: HandoffInput, selection: SelectionTable, pool: PoolManifest): Promise<string> {
  return createHash('sha256')
    .update(
      JSON.stringify({
        version: 1,
        runId: input.runId,
        selection: selection.summary.selection.sha256,
        seed: selection.summary.seed,
        pool: [pool.fingerprint, pool.shards.map((s) => s.sha256)],
        // The card embeds the run config: an edited config.json means a new card.
        config: await sha256File(runLayout(input.runDir).config).catch(() => null),
        handoff: input.handoff,
        // The card reports the contamination check (only keyed when there is one: older cards stay valid).
        ...(selection.summary.contamination ? { contamination: selection.summary.contamination.sha256 } : {}),
      }),
    )
    .digest('hex');
}

/** The announcements of one handoff: the selection's first, then one per baseline, and the files each names. */
interface AnnouncementPlan {
  main: Announcement;
  baselines: Announcement[];
  all: Announcement[];
  mainFiles: FileRef[];
  baselineFiles: FileRef[];
  counts: HandoffPayload['counts'];
}

/**
 * One announcement per training file, each with its idempotency key; a file the previous receipt
 * already announced at this location (same key, not failed) keeps that trigger record and is done.
 */
async function announcements(
  input: HandoffInput,
  card: DatasetCard,
  outDir: string,
  location: string,
  locate: (file: string) => string,
  previous: HandoffReceipt | null,
): Promise<AnnouncementPlan> {
  const { handoff } = input;
  const doneBefore = (key: string, before: ReceiptTrigger | undefined) =>
    previous?.location === location && before?.idempotencyKey === key && before.status !== 'failed';
  const trigger = handoff.trigger;
  const baselineFiles: FileRef[] = card.baselines.map((b) => ({
    file: b.dataset.file,
    bytes: b.dataset.bytes,
    sha256: b.dataset.sha256,
  }));
  const mainFiles: FileRef[] = [
    { file: card.dataset.file, bytes: card.dataset.bytes, sha256: card.dataset.sha256 },
    ...card.files,
    await fileRef(path.join(outDir, README_FILE), outDir),
    await fileRef(path.join(outDir, CARD_FILE), outDir),
  ];
  const selected = (perSource: DatasetCard['counts']['perSource']) =>
    Object.fromEntries(
      Object.entries(perSource)
        .filter(([, c]) => c.selected > 0)
        .map(([s, c]) => [s, c.selected]),
    );
  const counts = { perTask: card.counts.perTask, perSource: selected(card.counts.perSource) };
  const key = idempotencyKey(input.runId, card.dataset.sha256);
  const main: Announcement = {
    payload: {
      runId: input.runId,
      name: 'selection',
      baseline: null,
      idempotencyKey: key,
      location,
      dataset: {
        location: locate(card.dataset.file),
        format: handoff.format,
        rows: card.dataset.rows,
        bytes: card.dataset.bytes,
        sha256: card.dataset.sha256,
      },
      files: mainFiles,
      counts,
    },
    command: card.trigger.command,
    trigger: doneBefore(key, previous?.trigger)
      ? previous!.trigger
      : { kind: trigger.kind, idempotencyKey: key, status: 'skipped' },
    done: doneBefore(key, previous?.trigger),
  };
  const baselines = card.baselines.map((b, i): Announcement => {
    const bkey = idempotencyKey(input.runId, b.dataset.sha256, b.name);
    const before = previous?.baselines?.find((p) => p.name === b.name)?.trigger;
    return {
      payload: {
        runId: input.runId,
        name: b.name,
        baseline: { strategy: b.strategy, seed: b.seed, selectionSha256: card.dataset.sha256 },
        idempotencyKey: bkey,
        location,
        dataset: {
          location: locate(b.dataset.file),
          format: handoff.format,
          rows: b.dataset.rows,
          bytes: b.dataset.bytes,
          sha256: b.dataset.sha256,
        },
        files: [baselineFiles[i]!],
        counts: {
          perTask: b.dataset.rows > 0 ? { [NO_TASK]: b.dataset.rows } : {},
          perSource: selected(b.counts.perSource),
        },
      },
      command: b.command,
      trigger: doneBefore(bkey, before) ? before! : { kind: trigger.kind, idempotencyKey: bkey, status: 'skipped' },
      done: doneBefore(bkey, before),
    };
  });
  return { main, baselines, all: [main, ...baselines], mainFiles, baselineFiles, counts };
}

/** The receipt of this handoff; its trigger records are the announcements' (filled in as they fire). */
function receiptOf(input: HandoffInput, card: DatasetCard, location: string, plan: AnnouncementPlan): HandoffReceipt {
  const { main, baselines, mainFiles, baselineFiles, counts } = plan;
  return {
    kind: 'receipt',
    version: 1,
    runId: input.runId,
    location,
    files: [...mainFiles, ...baselineFiles],
    rows: card.dataset.rows,
    trigger: main.trigger,
    format: input.handoff.format,
    datasetSha256: card.dataset.sha256,
    counts,
    ...(baselines.length
      ? {
          baselines: card.baselines.map((b, i) => ({
            name: b.name,
            strategy: b.strategy,
            seed: b.seed,
            dataset: baselines[i]!.payload.dataset.location,
            file: baselineFiles[i]!,
            rows: b.dataset.rows,
            counts: baselines[i]!.payload.counts,
            trigger: baselines[i]!.trigger,
          })),
        }
      : {}),
    createdAt: new Date().toISOString(),
  };
}

/** A heartbeat for a step that waits on another service. */
const waiting =
  (step: string, done = 0, total = 1) =>
  () => ({ stage: `handoff:${step}`, done, total, unit: 'steps', ratePerSec: 0, etaSec: null });

/** Upload the receipt's files (objects already there with the same checksum are not sent again). */
async function publishToS3(
  dest: Extract<HandoffConfig['destination'], { kind: 's3' }>,
  outDir: string,
  files: FileRef[],
  options: HandoffOptions,
): Promise<void> {
  const rt = activityRuntime();
  // Uploads wait on another service: heartbeat on a timer meanwhile (liveness, cancellation).
  const up = await withHeartbeats(rt, waiting('upload'), () =>
    uploadToS3(
      dest,
      files.map((f) => ({
        path: path.join(outDir, f.file),
        name: f.file,
        bytes: f.bytes,
        sha256: f.sha256,
        contentType: contentType(f.file),
      })),
      rt.signal,
      options.s3PartBytes,
    ),
  );
  rt.log(`published to ${up.location}: ${up.uploaded.length} uploaded, ${up.unchanged.length} already there`);
}

/**
 * Fire the trigger of every announcement not done yet, recording the outcome in its trigger record.
 * One failing does not hold back the others (a re-run retries only the failed ones); the first
 * failure is returned, for the caller to throw once the receipt is written.
 */
async function fireTriggers(
  all: Announcement[],
  trigger: HandoffConfig['trigger'],
  outDir: string,
  options: HandoffOptions,
): Promise<unknown> {
  const rt = activityRuntime();
  let failure: unknown = null;
  for (const [i, a] of all.entries()) {
    if (a.done) continue;
    if (rt.signal.aborted && failure) break;
    try {
      // Triggers wait on other services: heartbeat on a timer meanwhile.
      await withHeartbeats(rt, waiting('trigger', i, all.length), () => fire(a, trigger, outDir, options));
    } catch (err) {
      a.trigger.status = 'failed';
      a.trigger.detail = (err as Error).message.slice(0, 2000);
      failure ??= err;
    }
  }
  return failure;
}

/** Announce one file through the configured trigger; fills in `record` (status and details). */
async function fire(
  { payload, command, trigger: record }: Announcement,
  trigger: HandoffConfig['trigger'],
  outDir: string,
  options: HandoffOptions,
): Promise<void> {
  const rt = activityRuntime();
  const env = options.env ?? process.env;
  if (trigger.kind === 'webhook') {
    const secret = env[trigger.secretEnv];
    if (!secret)
      throw new ValidationError(
        `handoff.trigger.secretEnv: environment variable ${trigger.secretEnv} is not set (it holds the webhook's HMAC secret)`,
      );
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
    Object.assign(record, { status: 'sent', attempts: res.attempts, detail: res.detail });
  } else if (trigger.kind === 'temporal') {
    const res = await runTemporalTrigger(temporalTriggerPlan(trigger, payload, env), options.temporalConnectTimeoutMs);
    Object.assign(record, res);
  } else if (trigger.kind === 'command') {
    record.command = command!;
    record.status = 'rendered';
    if (trigger.run) {
      const res = await runCommand(command!, rt.signal, 4096, outDir);
      Object.assign(record, { exitCode: res.exitCode, outputTail: res.outputTail });
      if (res.exitCode !== 0)
        throw new NonRetryableError(
          `handoff command exited with code ${res.exitCode}: ${command}\n${res.outputTail.slice(-1000)}`,
        );
      record.status = 'ran';
    }
  }
}

/**
 * The `handoffSelection` activity (HandoffInput -> HandoffOutput; small payloads only). The
 * composition root binds `selectBaseline`, so the workflow calls it with the input alone.
 */
export async function handoffSelection(
  raw: HandoffInput,
  deps: Pick<HandoffOptions, 'selectBaseline'> = {},
): Promise<HandoffOutput> {
  const { skipped, location, rows, triggerStatus } = await runHandoff(raw, deps);
  return { skipped, location, rows, triggerStatus };
}

function requireSelectBaseline(options: HandoffOptions): SelectBaseline {
  if (!options.selectBaseline)
    throw new Error(
      "handoff.baselines: drawing baselines needs options.selectBaseline (the runner passes @rds/selectors' select)",
    );
  return options.selectBaseline;
}

/** The selection's contamination report (checked against the summary) and the dataset's ids, for the card. */
async function contaminationOf(
  runDir: string,
  sel: SelectionTable,
): Promise<{ contamination: ContaminationReport | null; selectedIds: Set<string> | null }> {
  const contamination = await readContaminationReport(runDir, sel.summary);
  if (!contamination) return { contamination: null, selectedIds: null };
  const selectedIds = contamination.rows.length && !contamination.excluded ? new Set(sel.ids) : null;
  return { contamination, selectedIds };
}
