export { buildServer, API_VERSION, DEFAULT_BODY_LIMIT, type ApiOptions } from './server.js';
export { TokenSet, bearerToken, type Access } from './auth.js';
export { PathPolicy } from './paths.js';
export { SelectionReader } from './selection.js';
export { openApiDocument } from './openapi.js';
export { settingsFromEnv, createBackend, type ApiSettings } from './settings.js';
export * from './api-schemas.js';
export {
  triggerIssues,
  WEBHOOK_SECRET_PREFIX,
  type TemporalTriggerAllowList,
  type TriggerPolicy,
} from './trigger-policy.js';
