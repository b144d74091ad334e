export {
  type DecodedBlock,
  KEYFRAME_INTERVAL_MS,
  readBlocks,
  readLatestBlocks,
} from './blocks.ts';
export {
  type CreateDbOptions,
  createDb,
  type Db,
  type DbHandle,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_STALL_MS,
  defaultDataDir,
  MIGRATIONS_DIR,
  migrate,
  queryRows,
  type Schema,
} from './client.ts';
export {
  METRICS,
  type Metric,
  type MetricAggregate,
  metricValues,
} from './codec/aggregate-block.ts';
export { decodeMapping, encodeMapping } from './codec/mapping.ts';
export type { StoredSample } from './codec/sample-block.ts';
export { isClosedSocketWriteFault } from './driver-faults.ts';
export {
  type IngestOptions,
  type IngestResult,
  ingestSnapshot,
  SnapshotExpired,
} from './ingest.ts';
export {
  DEFAULT_RETENTION,
  DROP_BATCH,
  ensurePartitionsFor,
  type MaintenanceResult,
  maintainPartitions,
  oldestKeptDayMs,
  type Retention,
} from './partitions.ts';
export {
  diffMappings,
  type FullMapRef,
  findHost,
  getFullMap,
  type HostSummary,
  type IncarnationInfo,
  incarnationKey,
  incarnationsLastSeenBetween,
  incarnationsOf,
  latestProcesses,
  listFullMaps,
  listHosts,
  type MappingChange,
  type ProcessSeries,
  type ProcessState,
  processSeries,
  type SeriesPoint,
  type StoredFullMap,
} from './queries.ts';
export { withoutQueryParams } from './query-errors.ts';
export { DatabaseUnreachable } from './reachability.ts';
export {
  liveReceiverLeases,
  releaseReceiverLeases,
  takeReceiverLeases,
} from './receiver-leases.ts';
export {
  type ClaimOptions,
  claimDelivery,
  claimReportSlot,
  type DeliveryOutcome,
  type DeliverySchedules,
  deleteReportsBefore,
  dueDeliverySchedules,
  failReport,
  finishReport,
  getReport,
  insertManualReport,
  listReports,
  MANUAL_SCHEDULE,
  previousReport,
  type ReportSummary,
  type ReportTotals,
  recordDelivery,
  SERVER_SCHEDULE,
  type StoredReport,
} from './reports.ts';
export {
  type AggregateBucket,
  BUCKET_1H_MS,
  BUCKET_5M_MS,
  FINE_WINDOW_MAX_MS,
  type ProcessAggregateSeries,
  processAggregates,
  ROLLUP_SETTLE_MS,
  type RollupMarks,
  type RollupResult,
  rollupAggregates,
  rollupMarks,
} from './rollup.ts';
export * as schema from './schema/index.ts';
export {
  benchAdminUrl,
  createScratchDb,
  createTestDb,
  type ScratchDb,
  type TestDb,
  type TestDriver,
  testDrivers,
} from './test-db.ts';
export {
  type CreatedToken,
  type CreateTokenOptions,
  createFirstAdminToken,
  createToken,
  EnrollmentRefused,
  enrollAgent,
  LastAdminToken,
  listTokens,
  revokeToken,
  TOKEN_ROLES,
  type TokenInfo,
  type TokenRole,
  verifyToken,
} from './tokens.ts';
export {
  listVerdictRuns,
  readVerdictPoints,
  readVerdicts,
  replaceVerdicts,
  type StoredVerdict,
  type VerdictPoint,
  type VerdictRun,
  withVerdictLock,
} from './verdicts.ts';
