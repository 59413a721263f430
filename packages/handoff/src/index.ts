export { handoffSelection, runHandoff, type HandoffOptions, type HandoffResult } from './activity.js';
export {
  CardStats,
  buildCard,
  cardMarkdown,
  histogram,
  histogramSvg,
  quantiles,
  QUANTILE_LEVELS,
  NO_TASK,
} from './card.js';
export {
  datasetFileName,
  toAlpaca,
  trainingFileWriter,
  type AlpacaRow,
  type HandoffFormat,
  type RowMetadata,
  type TrainingFileWriter,
} from './formats.js';
export { materialise, type MaterialiseOptions, type MaterialiseStats, type MaterialisedRow } from './materialise.js';
export { type BaselinePool, type SelectBaseline } from './baselines.js';
export { outputSlots } from './order.js';
export {
  s3Client,
  s3Key,
  s3Location,
  uploadToS3,
  type S3Destination,
  type UploadFile,
  type UploadResult,
} from './s3.js';
export { renderCommand, runCommand, shellQuote, type CommandResult, type CommandValues } from './triggers/command.js';
export { idempotencyKey, NonRetryableError, type HandoffPayload } from './triggers/payload.js';
export {
  runTemporalTrigger,
  temporalTriggerPlan,
  type TemporalTriggerPlan,
  type TemporalTriggerResult,
} from './triggers/temporal.js';
export { retryAfterMs, sendWebhook, signBody, type WebhookOptions, type WebhookResult } from './triggers/webhook.js';
