/**
 * Per-incarnation time buckets: the summaries the storage keeps (5-minute and hourly buckets),
 * and the only input the leak scorer needs. Values are KiB of one metric (e.g. anon =
 * RssAnon + VmSwap). Times are ms since the Unix epoch; a bucket covers [tStartMs, tEndMs).
 *
 * The regression sums use dt = (sample time − tStartMs) in seconds, so they stay small enough
 * for exact double arithmetic and two buckets combine without rescanning samples.
 */
export interface MetricBucket {
  tStartMs: number;
  tEndMs: number;
  /** Number of samples. */
  n: number;
  /** Lowest sample: the floor that garbage-collected saw-teeth return to. */
  min: number;
  max: number;
  /** Latest sample in the bucket and when it was taken. */
  last: number;
  lastAtMs: number;
  /** Σy, Σdt, Σdt², Σdt·y (dt in seconds from tStartMs); Σy² when kept (not needed to score). */
  sum: number;
  sumSq?: number;
  sumDt: number;
  sumDt2: number;
  sumDtY: number;
}

export interface MetricPoint {
  tMs: number;
  value: number;
}

export const FIVE_MINUTES_MS = 5 * 60_000;
export const HOUR_MS = 60 * 60_000;

/** An empty bucket for [tStartMs, tStartMs + widthMs). */
export function emptyBucket(tStartMs: number, widthMs: number): MetricBucket {
  return {
    tStartMs,
    tEndMs: tStartMs + widthMs,
    n: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
    last: Number.NaN,
    lastAtMs: Number.NEGATIVE_INFINITY,
    sum: 0,
    sumSq: 0,
    sumDt: 0,
    sumDt2: 0,
    sumDtY: 0,
  };
}

/** Adds one sample to a bucket in place (what an `INSERT … ON CONFLICT DO UPDATE` does). */
export function addSample(bucket: MetricBucket, tMs: number, value: number): void {
  const dt = (tMs - bucket.tStartMs) / 1000;
  bucket.n += 1;
  if (value < bucket.min) bucket.min = value;
  if (value > bucket.max) bucket.max = value;
  if (tMs >= bucket.lastAtMs) {
    bucket.last = value;
    bucket.lastAtMs = tMs;
  }
  bucket.sum += value;
  bucket.sumSq = (bucket.sumSq ?? 0) + value * value;
  bucket.sumDt += dt;
  bucket.sumDt2 += dt * dt;
  bucket.sumDtY += dt * value;
}

/** Groups raw points into aligned buckets of `widthMs` (aligned to multiples of widthMs). */
export function bucketize(
  points: readonly MetricPoint[],
  widthMs = FIVE_MINUTES_MS,
): MetricBucket[] {
  const byStart = new Map<number, MetricBucket>();
  for (const p of points) {
    if (!Number.isFinite(p.value) || !Number.isFinite(p.tMs)) continue;
    const start = Math.floor(p.tMs / widthMs) * widthMs;
    let b = byStart.get(start);
    if (!b) {
      b = emptyBucket(start, widthMs);
      byStart.set(start, b);
    }
    addSample(b, p.tMs, p.value);
  }
  return [...byStart.values()].sort((a, b) => a.tStartMs - b.tStartMs);
}

/**
 * Combines buckets (any order, non-empty list) into one spanning all of them, or spanning
 * `bounds` when given (e.g. the whole hour when its first 5 minutes had no sample).
 */
export function mergeBuckets(
  buckets: readonly MetricBucket[],
  bounds?: { tStartMs: number; tEndMs: number },
): MetricBucket {
  const first = buckets[0];
  if (!first) throw new Error('mergeBuckets: empty list');
  let start = bounds?.tStartMs ?? first.tStartMs;
  let end = bounds?.tEndMs ?? first.tEndMs;
  for (const b of buckets) {
    if (b.tStartMs < start) start = b.tStartMs;
    if (b.tEndMs > end) end = b.tEndMs;
  }
  const out = emptyBucket(start, end - start);
  for (const b of buckets) {
    if (b.n === 0) continue;
    const o = (b.tStartMs - start) / 1000;
    out.n += b.n;
    out.min = Math.min(out.min, b.min);
    out.max = Math.max(out.max, b.max);
    if (b.lastAtMs >= out.lastAtMs) {
      out.last = b.last;
      out.lastAtMs = b.lastAtMs;
    }
    out.sum += b.sum;
    if (b.sumSq !== undefined) out.sumSq = (out.sumSq ?? 0) + b.sumSq;
    out.sumDt += b.sumDt + b.n * o;
    out.sumDt2 += b.sumDt2 + 2 * o * b.sumDt + b.n * o * o;
    out.sumDtY += b.sumDtY + o * b.sum;
  }
  return out;
}

/**
 * Buckets merged into the clock hours they fall in, oldest first, as the rollup serves windows
 * over 6 hours (an hour with only some of its buckets still spans the whole hour).
 */
export function mergeIntoHours(buckets: readonly MetricBucket[]): MetricBucket[] {
  const byHour = new Map<number, MetricBucket[]>();
  for (const b of buckets) {
    const h = b.tStartMs - (b.tStartMs % HOUR_MS);
    const group = byHour.get(h);
    if (group) group.push(b);
    else byHour.set(h, [b]);
  }
  return [...byHour]
    .map(([h, group]) => mergeBuckets(group, { tStartMs: h, tEndMs: h + HOUR_MS }))
    .sort((a, b) => a.tStartMs - b.tStartMs);
}

/**
 * Ordinary least-squares slope in KiB per hour over every sample the buckets summarise, computed
 * from the regression sums alone. This is the naive estimator the robust scorer is compared
 * with; NaN with fewer than two distinct sample times.
 */
export function leastSquaresSlopePerHour(buckets: readonly MetricBucket[]): number {
  const nonEmpty = buckets.filter((b) => b.n > 0);
  if (nonEmpty.length === 0) return Number.NaN;
  const m = mergeBuckets(nonEmpty);
  const den = m.n * m.sumDt2 - m.sumDt * m.sumDt;
  if (!(den > 0)) return Number.NaN;
  return ((m.n * m.sumDtY - m.sumDt * m.sum) / den) * 3600;
}
