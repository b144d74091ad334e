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
export { type MannKendallOptions, mannKendall, rank, type TrendTest } from './mann-kendall.ts';
export { normalQuantile, normalUpperTail } from './normal.ts';
export { type GroupPivot, type PivotRow, pivotByGroup } from './pivot.ts';
export { madSigma, median, quantile } from './quantile.ts';
export {
  analyseIncarnation,
  DAY_BEFORE_READ_MS,
  DAY_OVER_DAY_BELOW_MS,
  DEFAULT_SCORE_OPTIONS,
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
  SERVICE_LOOKBACK_MS,
  type ServiceReason,
  type ServiceScore,
  scoreService,
  wantsEarlierIncarnations,
} from './service.ts';
export { type RobustLine, repeatedMedianSlope, theilSen } from './theil-sen.ts';
