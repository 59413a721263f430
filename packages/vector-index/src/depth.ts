import type { RawMatrix } from '@rds/artifacts';
import type { BlockScores, ScoreEngine } from './engines/index.js';
import type { RunningTopK } from './topk.js';

/**
 * How deep to ask a block of `rows` rows for its per-query lists. A block only adds the rows that
 * beat a query's current worst (and reach its floor), about K/b of them at the b-th block of an
 * unordered pool without floors, and asking onnxruntime's TopK for all K rows of every block was
 * most of scoring's time (its cost grows with the depth). The guess takes the higher of two rates
 * of rows added per pool row: the previous block's largest take (`last`, null for the first block
 * or after a resume) and the floors' expected rate (`perRow`, see sampleFloors; null: no floors),
 * with 25% slack. With neither, full depth. BlockDepth.scoreBlock checks the guess with
 * RunningTopK.cutShort and re-scores a block at full depth when it was too shallow, so the lists
 * are exactly those of full-depth scoring.
 */
export function nextBlockK(
  k: number,
  rows: number,
  last: { taken: number; rows: number } | null,
  perRow: number | null = null,
): number {
  const fromLast = last !== null && last.rows > 0 ? last.taken / last.rows : null;
  if (fromLast === null && perRow === null) return Math.min(k, rows);
  const rate = Math.max(fromLast ?? 0, perRow ?? 0);
  return Math.min(k, rows, Math.ceil(rate * rows * 1.25) + 32);
}

/** Per-block top-K depth state across a pass over the pool (see nextBlockK). */
export class BlockDepth {
  private last: { taken: number; rows: number } | null = null;
  private bars = new Float32Array(0);
  /** Blocks whose shallow lists could have been cut short and were scored again at full depth. */
  rescores = 0;

  constructor(private readonly perRow: number | null = null) {}

  /**
   * Score one block (rows in global order from `rowOffset`) and merge its per-query lists into
   * `running`, as deep as needed and no deeper. Returns the engine's output (per-task vectors too).
   */
  async scoreBlock(
    engine: ScoreEngine,
    data: RawMatrix,
    rows: number,
    rowOffset: number,
    running: RunningTopK,
  ): Promise<BlockScores> {
    if (engine.scoreInto) {
      // The engine merges every row that can enter (no depth to guess).
      const { out, taken } = await engine.scoreInto(data, rows, rowOffset, running);
      this.last = { taken, rows };
      return out;
    }
    const full = Math.min(running.k, rows);
    const kb = Math.min(nextBlockK(running.k, rows, this.last, this.perRow), full);
    // Scores under a query's bar cannot enter its list: the engine may mask them (see ScoreEngine).
    const bars = running.bars(
      this.bars.length === running.queries ? this.bars : (this.bars = new Float32Array(running.queries)),
    );
    let out = await engine.score(data, rows, kb, bars);
    if (kb < full && running.cutShort(out.topIds, out.topScores, out.kb)) {
      this.rescores++;
      out = await engine.score(data, rows, full, bars);
    }
    this.last = { taken: running.merge(out.topIds, out.topScores, out.kb, rowOffset), rows };
    return out;
  }

  /** Finish the merges an engine holds back (ScoreEngine.settle): call before reading `running`. */
  settle(engine: ScoreEngine, running: RunningTopK): void {
    engine.settle?.(running);
  }
}
