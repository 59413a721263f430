import type { EmbeddingDtype } from '@rds/schemas';
import { loadFusedKernel } from '../fused-kernel.js';
import { OnnxBlockedEngine } from './blocked.js';
import type { EngineName, QuerySet, ScoreEngine, ScoreWanted } from './engine.js';
import { FaissEngine } from './faiss.js';
import { FusedEngine } from './fused.js';
import { JsEngine } from './js.js';

export {
  ENGINES,
  queryCount,
  type BlockScores,
  type EngineName,
  type QuerySet,
  type ScoreEngine,
  type ScoreWanted,
} from './engine.js';
export { floatBelow, scoringGraph } from './blocked.js';
export { FusedEngine } from './fused.js';

/** `poolDtype`: what the blocks will mostly be (the blocked engine prepares that session up front). */
export async function createEngine(
  name: EngineName,
  queries: QuerySet,
  wanted: ScoreWanted,
  poolDtype: EmbeddingDtype = 'float32',
): Promise<ScoreEngine> {
  if (name === 'faiss') return new FaissEngine(queries, wanted);
  if (name === 'blocked') return OnnxBlockedEngine.create(queries, wanted, poolDtype);
  if (name === 'fused') return FusedEngine.create(queries, wanted);
  return new JsEngine(queries, wanted);
}

/**
 * What `engine: 'auto'` means: the fused native kernel (GEMM and reductions in one pass; in
 * bench:score ~1.4x the blocked onnxruntime GEMM, ~20x faiss), or the blocked engine when the
 * kernel is not built, said in the log. Fixed per installation rather than timed per run: a
 * timed choice could switch engines between runs, and engines differ in the last float bits, so a
 * resumed run could rank near-ties differently (a resume keeps its checkpoint's engine).
 */
export function autoEngine(log: (message: string) => void = () => {}, addonPath?: string): EngineName {
  const fused = loadFusedKernel(addonPath);
  if ('error' in fused) {
    log(`scoring engine: ${fused.error} Using the blocked onnxruntime engine instead.`);
    return 'blocked';
  }
  // An x86 CPU without AVX2/FMA (before 2013) gets the portable code, whose exact FMA chains
  // are library calls there (2 GFLOP/s here against 417 with AVX-512); on ARM they are NEON.
  if (fused.addon.kernel() === 'portable' && process.arch === 'x64') {
    log(
      'scoring engine: this CPU has no AVX2/FMA, where the fused kernel is slow; using the blocked onnxruntime engine.',
    );
    return 'blocked';
  }
  return 'fused';
}
