export { ingestPool } from './activity.js';
export {
  ingestPoolFiles,
  ingestQuerySet,
  poolFingerprint,
  type IngestOptions,
  type IngestProgress,
  type PoolIngestResult,
  type QuerySetResult,
  type RejectedRow,
  type SourceStats,
} from './ingest.js';
export { scanPool, type PoolScanCounts, type PoolScanOptions } from './scan.js';
export { expandInputs } from './glob.js';
export { Hash64Set } from './hashset.js';
export {
  detectShape,
  normaliseRow,
  isRejection,
  strippedMessagesJson,
  type RejectReason,
  type RowShape,
  type Rejection,
  type NormalisedRow,
} from './normalise.js';
export {
  readRecords,
  inputKind,
  sourceFromFileName,
  type SourceRecord,
  type RecordBatch,
  type InputKind,
} from './readers.js';
