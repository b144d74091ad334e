export { type AppRouter, appRouter } from './app-router.ts';
export {
  type ApiContext,
  type ApiDeps,
  type ApiHooks,
  createApiContext,
  parseAuthorization,
} from './context.ts';
export {
  API_ERRORS,
  ApiError,
  type ApiErrorCode,
  isDatabaseUnavailable,
  toApiError,
} from './errors.ts';
export {
  createQueryServices,
  type QueryServices,
} from './queries/query-services.ts';
export {
  DEFAULT_VERDICT_SCHEDULE,
  type RefreshOutcome,
  refreshPeriodMs,
  refreshVerdicts,
  staleAfterMs,
  type VerdictSchedule,
} from './queries/verdicts.ts';
export { createRateLimiter, type RateLimiter } from './rate-limiter.ts';
export {
  type BuildReportInput,
  buildAndStoreReport,
  createReportServices,
  type ReportListing,
  type ReportServices,
  type StoredLeakReport,
} from './reports/report-services.ts';
export type { HostSummaryOutput } from './routers/host.ts';
export {
  type ApiServices,
  type CreatedToken,
  type HostSummary,
  type Identity,
  type IngestOutcome,
  ROLES,
  type Role,
  type TokenInfo,
} from './services.ts';
export { assertStorableText, mayHoldUnstorableText } from './storable-text.ts';
export { describeError, type ErrorDescription, errorShape } from './trpc.ts';
