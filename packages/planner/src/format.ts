import type { ComputePlan } from '@rds/schemas';

const int = (x: number) => Math.round(x).toLocaleString('en-US');

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function duration(sec: number): string {
  if (sec < 90) return `${sec.toPrecision(2)} s`;
  if (sec < 5400) return `${(sec / 60).toFixed(0)} min`;
  if (sec < 172_800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86_400).toFixed(1)} days`;
}

function flops(f: number): string {
  return f >= 1e15
    ? `${(f / 1e15).toFixed(2)} PFLOP`
    : f >= 1e12
      ? `${(f / 1e12).toFixed(2)} TFLOP`
      : `${(f / 1e9).toFixed(2)} GFLOP`;
}

/** The plan as the lines `rds plan` prints. */
export function formatPlan(p: ComputePlan): string {
  const lines = [
    `pool        ${int(p.pool.rows)} rows to embed (${int(p.pool.read)} read from ${p.pool.files} file(s), ${bytes(p.pool.bytes)}; ${int(p.pool.duplicate)} duplicates, ${int(p.pool.rejected)} rejected)`,
    `queries     ${p.queries.map((q) => `${q.task} ${int(q.rows)} rows / ${int(q.tokens)} tokens`).join('; ')}`,
    `tokens      ${int(p.tokens.pool)} pool${p.tokens.sampled ? ' (estimate: sampled)' : ''} + ${int(p.tokens.queries)} queries; mean ${p.tokens.meanPerRow.toFixed(1)} per row, ${int(p.tokens.truncatedRows)} rows cut at maxTokens ${p.tokens.maxTokens}`,
    `model       ${p.model.id} (${p.model.sha256.slice(0, 12)}): hidden ${p.model.hiddenSize}, ${p.model.layers} layers, ${(p.model.matmulParams / 1e6).toFixed(1)}M matmul weights`,
    `FLOPs       ${flops(p.flops.pool + p.flops.queries)} (pool ${flops(p.flops.pool)}, queries ${flops(p.flops.queries)}; attention ${(100 * p.flops.attentionShare).toFixed(1)}%)`,
  ];
  if (p.calibration) {
    const c = p.calibration;
    lines.push(
      `here        ${duration(p.time.thisMachineSeconds!)} (estimate; ${c.provider}, calibrated on ${int(c.tokens)} tokens: ${(c.flopsPerSecond / 1e9).toFixed(1)} GFLOP/s)`,
    );
  } else {
    lines.push('here        not estimated (no calibration run)');
  }
  for (const g of p.time.gpus) {
    lines.push(
      `${g.name.padEnd(11)} ${duration(g.seconds)} (estimate: ${(100 * g.utilisation).toFixed(0)}% of ${(g.peakFlops / 1e12).toFixed(0)} TFLOP/s, ${g.utilisationSource})`,
    );
  }
  lines.push(
    `disk        embeddings ${bytes(p.disk.embeddings)}, score vectors ${bytes(p.disk.scores)}, top-K lists ${bytes(p.disk.topk)}`,
    `memory      embed ~${bytes(p.memory.embed)}, score ~${bytes(p.memory.score)}, select ~${bytes(p.memory.select)} (estimates)`,
    ...p.notes.map((n) => `note        ${n}`),
  );
  return lines.join('\n');
}
