export {
  addSample,
  bucketize,
  emptyBucket,
  FIVE_MINUTES_MS,
  HOUR_MS,
  leastSquaresSlopePerHour,
  type MetricBucket,
  type MetricPoint,
  mergeBuckets,
} from './buckets.ts';
export { type GrowthOnset, growthOnset, type OnsetOptions } from './change-point.ts';
export { type MannKendallOptions, mannKendall, rank, type TrendTest } from './mann-kendall.ts';
export { normalQuantile, normalUpperTail } from './normal.ts';
export { byteOrder } from './order.ts';
export { exeGroup, type GroupPivot, type PivotRow, pivotByGroup } from './pivot.ts';
export { madSigma, median, quantile } from './quantile.ts';
export {
  buildLeakReport,
  DEFAULT_MAX_REPORT_GROUPS,
  DEFAULT_MAX_REPORT_LEAKS,
  describeScope,
  type LeakReport,
  type LeakStatus,
  leakIdentity,
  orderLeaks,
  type PreviousReport,
  type QuietProcess,
  REPORT_FORMAT_VERSION,
  type ReportLeak,
  type ReportOptions,
  type ReportProcess,
  type ReportScope,
  type ResolvedLeak,
  scopeKey,
  scopeOfKey,
  WHOLE_FLEET,
} from './report.ts';
export {
  type ReportRenderOptions,
  renderReportHtml,
  renderReportMarkdown,
  reportSummary,
} from './report-render.ts';
export {
  type AgeingFit,
  analyseIncarnation,
  comparesDayBefore,
  DAY_BEFORE_READ_MS,
  DAY_BEFORE_SHIFT_MS,
  DEFAULT_SCORE_OPTIONS,
  floorPoints,
  growthByAge,
  type IncarnationAnalysis,
  type IncarnationInput,
  type IncarnationTrend,
  type LeakScore,
  type ScoreOptions,
  scoreIncarnation,
  type VerdictReason,
} from './score.ts';
export {
  EARLIER_MIN_LIFE_MS,
  type EarlierIncarnations,
  growsLogarithmically,
  judgedOnFineBuckets,
  pooledOnFineBuckets,
  SERVICE_LOOKBACK_MS,
  type ServiceReason,
  type ServiceScore,
  scoreService,
  wantsEarlierIncarnations,
  YOUNG_SERVICE_MS,
} from './service.ts';
export { type RobustLine, repeatedMedianSlope, theilSen } from './theil-sen.ts';
export { BIDI_CONTROLS, commandText, formatDuration, formatKb } from './units.ts';
