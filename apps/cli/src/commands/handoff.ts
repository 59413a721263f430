import path from 'node:path';
import { z } from 'zod';
import { readJsonIfExists, runLayout } from '@rds/artifacts';
import { runHandoff } from '@rds/handoff';
import { select } from '@rds/selectors';
import { HandoffConfig, parseOrThrow } from '@rds/schemas';
import { runInTerminal } from '../terminal.js';
import { existingRunDir, parseFlags, type Command } from '../args.js';

const NAME = 'handoff';

const command: Command = {
  name: NAME,
  summary: 'materialise a finished selection as a training file + dataset card, publish it and fire the trigger',
  usage: `rds handoff --run <runDir> [--format tulu|parquet|alpaca] [--order selection|shuffled] [--metadata] [--run-id ID] [--out <dir>]`,
  async run(argv) {
    const { values } = parseFlags(NAME, argv, {
      run: { type: 'string' },
      format: { type: 'string' },
      order: { type: 'string' },
      metadata: { type: 'boolean' },
      'run-id': { type: 'string' },
      out: { type: 'string' },
    });
    const runDir = path.resolve(existingRunDir(NAME, values.run));
    const layout = runLayout(runDir);
    // The run's own handoff settings (destination, trigger) apply unless a flag overrides them.
    const config = await readJsonIfExists(layout.config, z.object({ handoff: z.unknown().optional() }).loose());
    const base = (config?.handoff ?? {}) as Record<string, unknown>;
    const handoff = parseOrThrow(
      HandoffConfig,
      {
        ...base,
        ...(values.format !== undefined ? { format: values.format } : {}),
        ...(values.order !== undefined ? { order: values.order } : {}),
        ...(values.metadata !== undefined ? { includeMetadata: values.metadata } : {}),
        ...(values.out !== undefined ? { destination: { kind: 'local', dir: path.resolve(values.out) } } : {}),
      },
      config ? `${layout.config} handoff settings (with rds ${NAME} flags)` : `rds ${NAME} options`,
    );
    const runId = values['run-id'] ?? path.basename(runDir);

    const started = Date.now();
    const res = await runInTerminal(() => runHandoff({ runDir, runId, handoff }, { selectBaseline: select }));
    const d = res.card.dataset;
    const secs = (Date.now() - started) / 1000;
    console.error(
      [
        res.skipped
          ? `already handed off (receipt has the same dataset checksum); nothing sent`
          : `${res.materialised ? 'wrote' : 'reused'} ${d.rows.toLocaleString('en-US')} rows (${d.format}${d.includeMetadata ? ' + metadata' : ''}, ${d.order} order) in ${secs.toFixed(1)}s`,
        `  dataset  ${path.join(res.location, d.file)}  ${d.bytes.toLocaleString('en-US')} bytes  sha256 ${d.sha256}`,
        `  card     ${path.join(res.location, 'README.md')}, card.json, scores.svg`,
        ...res.card.baselines.map(
          (b) =>
            `  baseline ${path.join(res.location, b.dataset.file)}  ${b.dataset.rows.toLocaleString('en-US')} rows  sha256 ${b.dataset.sha256}`,
        ),
        `  trigger  ${handoff.trigger.kind}: ${res.triggerStatus}${res.receipt.trigger.detail ? ` (${res.receipt.trigger.detail})` : ''}`,
        `  receipt  ${layout.handoff.receipt}`,
      ].join('\n'),
    );
    return 0;
  },
};
export default command;
