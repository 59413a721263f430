import type { RunProgress, RunStatus } from '@rds/schemas';

/* Terminal text for `rds run` and `rds status`: presentation belongs to the CLI, not the runner. */

const n = (x: number) => Math.round(x).toLocaleString('en-US');

function duration(sec: number): string {
  if (sec < 90) return `${Math.round(sec)}s`;
  if (sec < 5400) return `${Math.round(sec / 60)}m`;
  return `${(sec / 3600).toFixed(1)}h`;
}

/** One progress line; with `barWidth` a text bar is drawn (TTYs). */
export function progressLine(stage: string, p: RunProgress | null, barWidth = 0): string {
  if (!p) return `[${stage}]`;
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  const bar = barWidth > 0 ? ` ${'█'.repeat(Math.round(frac * barWidth)).padEnd(barWidth, '░')}` : '';
  const amount =
    p.unit === 'bytes'
      ? `${(p.done / 1e6).toFixed(1)}/${(p.total / 1e6).toFixed(1)} MB`
      : `${n(p.done)}/${n(p.total)} ${p.unit}`;
  const rate =
    p.ratePerSec > 0
      ? `  ${p.unit === 'bytes' ? `${(p.ratePerSec / 1e6).toFixed(1)} MB` : n(p.ratePerSec) + ' ' + p.unit}/s`
      : '';
  const shards = p.shards ? `  shards ${p.shards.done}/${p.shards.total}` : '';
  const eta = p.etaSec !== null && p.etaSec !== undefined ? `  eta ${duration(p.etaSec)}` : '';
  const cached = p.cacheHits ? `  ${n(p.cacheHits)} from cache` : '';
  return `[${stage}]${bar} ${(100 * frac).toFixed(1)}%  ${amount}${rate}${shards}${cached}${eta}`;
}

/** A human-readable status report (rds status). */
export function describeStatus(s: RunStatus): string {
  const lines = [
    `run ${s.runId} (${s.backend}): ${s.state}${s.stage ? ` at ${s.stage}` : ''}`,
    `  run dir   ${s.runDir}`,
    `  started   ${s.startedAt}${s.finishedAt ? `   finished ${s.finishedAt}` : `   updated ${s.updatedAt}`}`,
    `  stages    ${s.completedStages.join(' > ') || '(none finished)'}`,
  ];
  if (s.progress && s.stage) lines.push(`  progress  ${progressLine(s.stage, s.progress)}`);
  const counts = Object.entries(s.counts).map(([k, v]) => `${k}=${n(v)}`);
  if (counts.length) lines.push(`  counts    ${counts.join(' ')}`);
  if (s.error) {
    lines.push(`  error     ${s.error.type}: ${s.error.message.split('\n')[0]}`);
    for (const i of s.error.issues ?? []) lines.push(`            ${i.path}: ${i.message}`);
  }
  return lines.join('\n');
}
