import type { MetricBucket } from './buckets.ts';
import { type GrowthOnset, growthOnset, MAX_BEFORE_SHARE } from './change-point.ts';
import { mannKendall } from './mann-kendall.ts';
import { madSigma, median } from './quantile.ts';
import { signTestUpper } from './sign-test.ts';
import { pairwiseSlopes, theilSen, theilSenOfSlopes } from './theil-sen.ts';

export interface ScoreOptions {
  /** The window the user asked about: only buckets inside [windowStartMs, windowEndMs) count. */
  windowStartMs: number;
  windowEndMs: number;
  /** One-sided significance level of the trend test. */
  alpha?: number;
  /** Growth slower than this share of the current floor per hour is not called a leak. */
  minPctPerHour?: number;
  /** …nor growth slower than this in absolute terms (tiny processes). */
  minKbPerHour?: number;
  /**
   * …nor growth over the observation below this share of the floor, in percent, unless its rate
   * is at least twice `minPctPerHour`: a few hours of slow drift are within what memory wanders.
   */
  minGrowthPct?: number;
  /** Less observed time than this is not judged (a process is judged on what it has shown). */
  minSpanMs?: number;
  /** Floors are taken over blocks of at least this width, aligned on the bucket grid. */
  minBlockMs?: number;
  /** The window is cut into about this many blocks (bounds the O(n²) statistics). */
  targetBlocks?: number;
  /**
   * The growth rate between the middle and the last third of the observation, as a share of
   * the whole observation's slope, below which the growth has levelled off (what warm-up and
   * cache fills do).
   */
  minRecentShare?: number;
  /** An incarnation younger than this must show growth that is not slowing down. */
  youngMs?: number;
  /** Growth over the observation must be at least this many residual standard deviations. */
  minGrowthSigmas?: number;
  /** Time after an incarnation's start that is not judged (startup and warm-up). */
  startupGraceMs?: number;
  /** Growth over the observation, in residual standard deviations, that counts as evident… */
  dominance?: number;
  /** …when the trend test's p-value is at least below this. */
  weakAlpha?: number;
  /**
   * Judge the growth after a level stretch on its own when the whole observation's trend is not
   * significant (`growthSinceOnset`). Off only to measure what it adds.
   */
  judgeSinceOnset?: boolean;
  /**
   * A leak verdict is kept while the trend's p-value stays below `weakAlpha` and every other
   * rule holds, when the same observation cut this long before its end (any of these) was a leak
   * by the rules alone. Empty: no verdict is kept.
   */
  holdLagsMs?: readonly number[];
}

export const DEFAULT_SCORE_OPTIONS = {
  alpha: 0.01,
  minPctPerHour: 0.25,
  minKbPerHour: 64,
  minGrowthPct: 5,
  minSpanMs: 60 * 60_000,
  minBlockMs: 10 * 60_000,
  targetBlocks: 36,
  minRecentShare: 0.25,
  startupGraceMs: 30 * 60_000,
  minGrowthSigmas: 2,
  youngMs: 3 * 3_600_000,
  dominance: 3,
  weakAlpha: 0.05,
  judgeSinceOnset: true,
  holdLagsMs: [15 * 60_000, 30 * 60_000, 45 * 60_000, 60 * 60_000],
} as const;

export interface IncarnationInput {
  /** Buckets of one metric for one process incarnation, any order. */
  buckets: readonly MetricBucket[];
  /**
   * When the incarnation started (from its start ticks and the boot time), if known: its first
   * `startupGraceMs` are left out of the verdict.
   */
  startedAtMs?: number | null;
  /** cgroup memory limit or host MemTotal in KiB, when known, for the time to limit. */
  limitKb?: number | null;
  /**
   * For windows of up to a day: this incarnation's buckets from the hours just before the
   * same time one day earlier (at least the last `max(1 h, span / 6)` of the window, shifted by
   * 24 h), when stored. They let the verdict tell a daily cycle from a leak (see `dayOverDay`).
   */
  dayBefore?: readonly MetricBucket[];
  /**
   * For a service restarted within a window served hourly (`pooledOnFineBuckets`, service.ts):
   * this incarnation's 5-minute buckets in the window, for the pooled test. Its own verdict
   * stays on `buckets`.
   */
  pooledBuckets?: readonly MetricBucket[];
}

export type VerdictReason =
  | 'leak'
  | 'no-data'
  /** every sample in the window lies in the startup grace: shown, not judged */
  | 'starting-up'
  | 'too-little-data'
  | 'no-significant-trend'
  | 'too-slow'
  | 'levelled-off'
  | 'daily-cycle'
  | 'shrinking';

/** The verdict on one incarnation; field names follow `fleetpmap top --json`. */
export interface LeakScore {
  /** Latest sample in the window, KiB. */
  currentKb: number;
  /**
   * Floor at the end of the observation minus floor at its start, KiB, stated over the whole
   * observation (the floors compared lie a little inside it).
   */
  growthKb: number;
  /** Theil–Sen slope of the floors, KiB per hour. */
  slopeKbPerHour: number;
  /** The slope as a share of the current floor, percent per hour. */
  pctPerHour: number;
  /** 0–1: strength of the evidence that this incarnation leaks (see docs/analysis.md). */
  confidence: number;
  leak: boolean;
  /** Hours until the limit at the current slope; null when not significantly growing. */
  timeToLimitHours: number | null;
  /** The limit `timeToLimitHours` is measured against (the input's `limitKb`), KiB. */
  limitKb: number | null;
  reason: VerdictReason;
  /**
   * For a leak whose floors were level before it began inside the observation: when its growth
   * began (`growthOnset`), ms. Null for growth all along and for anything not judged a leak.
   */
  growingSinceMs: number | null;
  /** One-sided p-value of the autocorrelation-corrected Mann–Kendall test on the floors. */
  pValue: number;
  /** Observed time inside the window, ms, and how many floor points were judged. */
  spanMs: number;
  points: number;
  firstMs: number;
  lastMs: number;
}

interface Floors {
  xs: number[];
  ys: number[];
  firstMs: number;
  lastMs: number;
  current: number;
  bucketMs: number;
  blockMs: number;
}

/**
 * Lower envelope of the series: the minimum over blocks a few buckets wide, so saw-toothing
 * garbage collectors and short allocation bursts are judged by the level they fall back to.
 * Blocks are aligned to the end of the observation so the most recent block is complete.
 */
function floors(
  buckets: readonly MetricBucket[],
  opts: Required<ScoreOptions>,
  graceUntilMs: number,
): Floors | null {
  // A bucket belongs to the startup when most of it lies inside the grace period, so hourly
  // buckets lose at most the first hour.
  const inWindow: MetricBucket[] = [];
  let sorted = true;
  let sameWidth = true;
  for (const b of buckets) {
    if (
      b.n > 0 &&
      b.tStartMs >= opts.windowStartMs &&
      b.tStartMs < opts.windowEndMs &&
      (b.tStartMs + b.tEndMs) / 2 >= graceUntilMs
    ) {
      const prev = inWindow[inWindow.length - 1];
      if (prev) {
        if (b.tStartMs < prev.tStartMs) sorted = false;
        if (b.tEndMs - b.tStartMs !== prev.tEndMs - prev.tStartMs) sameWidth = false;
      }
      inWindow.push(b);
    }
  }
  // Storage hands buckets over in time order; sorting (stable) is only needed when it did not.
  if (!sorted) inWindow.sort((a, b) => a.tStartMs - b.tStartMs);
  const first = inWindow[0];
  const last = inWindow[inWindow.length - 1];
  if (!first || !last) return null;
  const bucketMs = Math.max(
    1,
    sameWidth ? first.tEndMs - first.tStartMs : median(inWindow.map((b) => b.tEndMs - b.tStartMs)),
  );
  const span = last.tEndMs - first.tStartMs;
  const perBlock = Math.max(
    Math.ceil(opts.minBlockMs / bucketMs),
    Math.ceil(span / opts.targetBlocks / bucketMs),
  );
  const blockMs = perBlock * bucketMs;
  // Block k counts back from the end of the observation; its floor is the lowest sample of its
  // buckets. Blocks are kept in flat arrays indexed by k (no per-block objects).
  let kLo = Number.POSITIVE_INFINITY;
  let kHi = Number.NEGATIVE_INFINITY;
  const ks = new Int32Array(inWindow.length);
  for (let i = 0; i < inWindow.length; i++) {
    const k = Math.floor((last.tEndMs - (inWindow[i] as MetricBucket).tEndMs) / blockMs);
    ks[i] = k;
    if (k < kLo) kLo = k;
    if (k > kHi) kHi = k;
  }
  const blockCount = kHi - kLo + 1;
  const blockMin = new Float64Array(blockCount).fill(Number.POSITIVE_INFINITY);
  const blockN = new Float64Array(blockCount);
  for (let i = 0; i < inWindow.length; i++) {
    const b = inWindow[i] as MetricBucket;
    const slot = (ks[i] as number) - kLo;
    blockN[slot] = (blockN[slot] as number) + b.n;
    if (b.min < (blockMin[slot] as number)) blockMin[slot] = b.min;
  }
  // The minimum of a handful of samples is no floor: a block cut short by a restart or by the
  // window's edge would read the top of a saw-tooth as the level. Such blocks are left out.
  const filled: number[] = [];
  for (const c of blockN) if (c > 0) filled.push(c);
  const typicalN = median(filled);
  const xs: number[] = [];
  const ys: number[] = [];
  // Oldest block (highest k) first.
  for (let slot = blockCount - 1; slot >= 0; slot--) {
    const c = blockN[slot] as number;
    if (c === 0 || c < 0.3 * typicalN) continue;
    const k = slot + kLo;
    xs.push((last.tEndMs - (k + 0.5) * blockMs - first.tStartMs) / 3_600_000);
    ys.push(blockMin[slot] as number);
  }
  return {
    xs,
    ys,
    firstMs: first.tStartMs,
    lastMs: last.tEndMs,
    current: last.last,
    bucketMs,
    blockMs,
  };
}

/** Medians of the floors in the three equal time thirds, and the times of the thirds' centres. */
function thirds(xs: readonly number[], ys: readonly number[]) {
  const x0 = xs[0] as number;
  const x1 = xs[xs.length - 1] as number;
  const parts: number[][] = [[], [], []];
  for (let i = 0; i < xs.length; i++) {
    const f = x1 > x0 ? ((xs[i] as number) - x0) / (x1 - x0) : 0;
    (parts[Math.min(2, Math.floor(f * 3))] as number[]).push(ys[i] as number);
  }
  return {
    m1: median(parts[0] as number[]),
    m2: median(parts[1] as number[]),
    m3: median(parts[2] as number[]),
    thirdHours: (x1 - x0) / 3,
  };
}

/**
 * Floors read as a + b·ln(age) + r·age: a logarithmic rise since the incarnation's start plus a
 * rate r that does not slow with age. Indexes, interners and allocator arenas grow with the
 * logarithm of what they have seen: fastest after a start, ever more slowly, never quite stopping,
 * so that a few hours in they still rise at 0.5–1 %/h and the persistence rule takes them for
 * growth that goes on. A leak is the r they leave out. Fitted by least squares over the floors
 * past the first third of the log-age range: a warm-up's tail falls there, and read as a
 * logarithm it would hide a leak behind it. `ratePerHour` is r (KiB/h) and `rateSe` its standard
 * error from the fit's residuals (the noise, and whatever the two terms do not explain);
 * `perLogAge` is the fitted growth per e-fold of age at the middle of the range (KiB). Null when
 * the ages seen span less than a factor of three (a logarithm is then too close to a line to tell
 * apart) or fewer than four floors are left.
 */
export function growthByAge(
  xs: readonly number[],
  ys: readonly number[],
  firstAgeHours: number,
): { ratePerHour: number; rateSe: number; perLogAge: number } | null {
  const n = xs.length;
  if (n < AGE_FIT_MIN_POINTS || !(firstAgeHours > 0)) return null;
  const ageAt = (i: number) => firstAgeHours + (xs[i] as number) - (xs[0] as number);
  const u0 = Math.log(firstAgeHours);
  const u1 = Math.log(ageAt(n - 1));
  if (!(u1 - u0 >= Math.log(AGE_FIT_MIN_SPAN_FACTOR))) return null;
  const cut = u0 + (u1 - u0) / 3;
  // The floors fitted, from the first past the cut: log-age, age and floor.
  const us: number[] = [];
  const ages: number[] = [];
  const fitted: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = Math.log(ageAt(i));
    if (u < cut) continue;
    us.push(u);
    ages.push(ageAt(i));
    fitted.push(ys[i] as number);
  }
  const m = us.length;
  if (m < 4) return null;
  // Centred regressors: the intercept drops out and two normal equations remain.
  let uMean = 0;
  let aMean = 0;
  let yMean = 0;
  for (let i = 0; i < m; i++) {
    uMean += (us[i] as number) / m;
    aMean += (ages[i] as number) / m;
    yMean += (fitted[i] as number) / m;
  }
  let suu = 0;
  let saa = 0;
  let sua = 0;
  let suy = 0;
  let say = 0;
  for (let i = 0; i < m; i++) {
    const u = (us[i] as number) - uMean;
    const a = (ages[i] as number) - aMean;
    const y = (fitted[i] as number) - yMean;
    suu += u * u;
    saa += a * a;
    sua += u * a;
    suy += u * y;
    say += a * y;
  }
  const det = suu * saa - sua * sua;
  if (!(det > 0)) return null;
  const r = (suu * say - sua * suy) / det;
  const b = (saa * suy - sua * say) / det;
  let rss = 0;
  for (let i = 0; i < m; i++) {
    const e =
      (fitted[i] as number) -
      yMean -
      b * ((us[i] as number) - uMean) -
      r * ((ages[i] as number) - aMean);
    rss += e * e;
  }
  const rateSe = Math.sqrt(((rss / Math.max(1, m - 3)) * suu) / det);
  return { ratePerHour: r, rateSe, perLogAge: b + r * Math.exp(uMean) };
}

/** Floors `growthByAge` needs in all, and the factor the ages seen must span. */
const AGE_FIT_MIN_POINTS = 6;
const AGE_FIT_MIN_SPAN_FACTOR = 3;

const clamp01 = (v: number) => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);

/** The confidence's evidence term: 0 at p = 1, 1 at p ≤ 1e-5. */
export function evidenceOf(pValue: number): number {
  return clamp01(-Math.log10(Math.max(pValue, 1e-12)) / 5);
}

/** The confidence's speed term: how far the rate is towards the minimum a leak must reach. */
export function speedOf(pctPerHour: number, minPctPerHour: number): number {
  return clamp01(pctPerHour / minPctPerHour);
}

/** Hours until `limitKb` at `rateKbPerHour` from `currentKb`; null when not growing or no limit. */
export function hoursToLimit(
  currentKb: number,
  rateKbPerHour: number,
  limitKb: number | null,
): number | null {
  return rateKbPerHour > 0 && limitKb !== null && limitKb > 0
    ? Math.max(0, (limitKb - currentKb) / rateKbPerHour)
    : null;
}

/** The statistics behind one verdict, for pooling incarnations of a service. */
export interface IncarnationTrend {
  /** Mann–Kendall S and its autocorrelation-corrected variance. */
  s: number;
  varS: number;
  /** Every pairwise slope of the floors as % of the end floor per hour. */
  pctSlopes: number[];
  /** Theil–Sen slope, KiB/h. */
  slopeKbPerHour: number;
  persists: boolean;
}

export interface AgeingFit {
  ratePct: number;
  ratePctSe: number;
  perLogAgePct: number;
}

export interface IncarnationAnalysis {
  score: LeakScore;
  /** Absent with fewer than three floor points. */
  trend: IncarnationTrend | null;
  /**
   * `growthByAge` in % of the end floor: the steady rate (%/h), its standard error, and the
   * growth per e-fold of age (%). Null without a start time or with too short a run of ages.
   */
  ageing: AgeingFit | null;
}

const DAY_MS = 24 * 3_600_000;

/** How far back `dayBefore` lies: the same hours of the clock one day earlier. */
export const DAY_BEFORE_SHIFT_MS = DAY_MS;

/**
 * Windows up to a day get the day-over-day check, and storage reads `dayBefore` for them over
 * [end − 1 day − DAY_BEFORE_READ_MS, end − 1 day): the longest stretch compared (a sixth of a
 * day's window). A window of exactly a day sees a daily cycle once, ramp and downswing, but its
 * own trend test still reads a leak riding the cycle as persistence (a bursty leak on a daily
 * load of ±7 % that grew 22 % over the window: p = 0.11); its end compared with the hours just
 * before its start is the growth over the day. Longer windows hold their own day before
 * (`dayOverDayInWindow`).
 */
export function comparesDayBefore(windowMs: number): boolean {
  return windowMs <= DAY_MS;
}
export const DAY_BEFORE_READ_MS = 4 * 3_600_000;

/**
 * Growth over a day, compared day over day, is a leak from this many times the minimum rate on
 * (1.75 × 0.25 %/h: 10.5 % of the process in a day), beside four residual spreads. A leak that
 * grows in rare bursts can add nothing inside a short window and still that much in a day. At
 * twice the minimum rate (12 %), 7 of 80 fresh fleets missed leaks that 1.75 finds, with no false
 * alarm more in any; at 1.5 (9 %), a steady process whose noise of 3 % wanders for an hour at a
 * time was flagged in 4 of 12 phases of one scenario; at the minimum rate itself (6 %), false
 * alarms rose on 5 fresh fleets (docs/analysis.md, 8).
 */
export const DAY_GROWTH_MIN_RATE_FACTOR = 1.75;

/**
 * Day-over-day growth of the floor: the lowest floor of the observation's last stretch (its
 * last sixth, at least an hour) minus the lowest sample in the same clock hours one day earlier.
 * A daily cycle comes back to the same level a day later, so its ramp shows no such growth; a
 * leak does, whatever phase of a daily cycle it rides on. `all` counts every day-before sample,
 * `mature` only those from `matureFromMs` on (past the incarnation's young hours); each is null
 * without such a sample.
 */
function dayOverDay(
  f: Floors,
  dayBefore: readonly MetricBucket[] | undefined,
  matureFromMs: number,
): { all: number | null; mature: number | null } {
  if (!dayBefore || dayBefore.length === 0) return { all: null, mature: null };
  const stretchMs = Math.max(3_600_000, (f.lastMs - f.firstMs) / 6);
  const from = f.lastMs - DAY_MS - stretchMs;
  const to = f.lastMs - DAY_MS;
  let before = Number.POSITIVE_INFINITY;
  let beforeMature = Number.POSITIVE_INFINITY;
  for (const b of dayBefore) {
    if (b.n > 0 && b.tStartMs >= from && b.tEndMs <= to) {
      before = Math.min(before, b.min);
      if (b.tStartMs >= matureFromMs) beforeMature = Math.min(beforeMature, b.min);
    }
  }
  let now = Number.POSITIVE_INFINITY;
  for (let i = 0; i < f.xs.length; i++) {
    if (f.firstMs + (f.xs[i] as number) * 3_600_000 >= f.lastMs - stretchMs) {
      now = Math.min(now, f.ys[i] as number);
    }
  }
  const growth = (then: number) =>
    Number.isFinite(then) && Number.isFinite(now) ? now - then : null;
  return { all: growth(before), mature: growth(beforeMature) };
}

/**
 * Whether growth that paused has started again: the newest floor is the highest of the
 * observation and above every floor of its first two thirds by `minRise`. A warm-up or a cache
 * that filled holds its level once it has reached it; a leak that grows in bursts under load
 * pauses between them, and a pause over the middle third reads as a plateau until the next burst
 * is weighed (see the "levelled off" rule in `analyseIncarnation`).
 */
function renewedGrowth(xs: readonly number[], ys: readonly number[], minRise: number): boolean {
  const n = xs.length;
  if (n < ESCAPE_MIN_POINTS) return false;
  const x0 = xs[0] as number;
  const x1 = xs[n - 1] as number;
  const last = ys[n - 1] as number;
  let firstTwoThirdsMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n - 1; i++) {
    const y = ys[i] as number;
    if (y > last) return false;
    if (((xs[i] as number) - x0) / (x1 - x0) < 2 / 3) {
      firstTwoThirdsMax = Math.max(firstTwoThirdsMax, y);
    }
  }
  return last - firstTwoThirdsMax >= minRise;
}

/**
 * Floor pairs a day apart the in-window day-over-day check needs: eight hours of a 32-hour window
 * on hourly floors, eight 2-hour floors of a 40-hour one.
 */
const DAY_PAIRS_MIN = 8;

/**
 * Growth day over day inside a window longer than a day: every floor against the floor one day
 * earlier in the same observation (the same block of the clock, within half a block), the earlier
 * one past the incarnation's young hours (`matureFromMs`, as in `dayOverDay`). A daily cycle
 * cancels out of each difference, whatever its shape and phase; a leak adds its day's growth to
 * every one. The sign test on the differences asks whether they are positive more often than
 * chance; `growth` is their median. Null with fewer than `DAY_PAIRS_MIN` pairs.
 */
function dayOverDayInWindow(
  f: Floors,
  matureFromMs: number,
): { growth: number; pValue: number } | null {
  const n = f.xs.length;
  const dayHours = DAY_MS / 3_600_000;
  const halfBlockHours = f.blockMs / 2 / 3_600_000;
  const diffs: number[] = [];
  // Floors are in time order: the partner of floor i moves forward with it.
  let j = 0;
  for (let i = 0; i < n; i++) {
    const target = (f.xs[i] as number) - dayHours;
    if (target < (f.xs[0] as number) - halfBlockHours) continue;
    while (j < n - 1 && (f.xs[j] as number) < target - halfBlockHours) j++;
    const xj = f.xs[j] as number;
    if (Math.abs(xj - target) > halfBlockHours) continue;
    if (f.firstMs + xj * 3_600_000 < matureFromMs) continue;
    diffs.push((f.ys[i] as number) - (f.ys[j] as number));
  }
  if (diffs.length < DAY_PAIRS_MIN) return null;
  let positive = 0;
  let negative = 0;
  for (const d of diffs) {
    if (d > 0) positive++;
    else if (d < 0) negative++;
  }
  return { growth: median(diffs), pValue: signTestUpper(positive, negative) };
}

/** Floors the escape check needs: at least three in each outer quarter. */
const ESCAPE_MIN_POINTS = 12;

/**
 * How far the lowest floor of the last quarter of the observation (by time) lies above the
 * highest floor of its first quarter; negative when the two ranges overlap.
 */
function escapeAboveStart(xs: readonly number[], ys: readonly number[]): number {
  const x0 = xs[0] as number;
  const x1 = xs[xs.length - 1] as number;
  let startMax = Number.NEGATIVE_INFINITY;
  let endMin = Number.POSITIVE_INFINITY;
  for (let i = 0; i < xs.length; i++) {
    const f = x1 > x0 ? ((xs[i] as number) - x0) / (x1 - x0) : 0;
    if (f <= 0.25) startMax = Math.max(startMax, ys[i] as number);
    if (f >= 0.75) endMin = Math.min(endMin, ys[i] as number);
  }
  return endMin - startMax;
}

/**
 * The floors the verdict judges (one per block, the startup grace left out): hours since
 * `firstMs` and KiB. Null when the window holds no judged bucket.
 */
export function floorPoints(
  input: IncarnationInput,
  options: ScoreOptions,
): { xs: number[]; ys: number[]; firstMs: number } | null {
  const opts = { ...DEFAULT_SCORE_OPTIONS, ...options } as Required<ScoreOptions>;
  const startedAt = input.startedAtMs ?? null;
  const graceUntilMs =
    startedAt === null ? Number.NEGATIVE_INFINITY : startedAt + opts.startupGraceMs;
  const f = floors(input.buckets, opts, graceUntilMs);
  return f ? { xs: f.xs, ys: f.ys, firstMs: f.firstMs } : null;
}

/**
 * A leak that began inside the observation after a level stretch. The whole observation's trend
 * test reads the level part and the bend as persistence and misses it (18 % growth over the last
 * 6 of 18 hours: p 0.06–0.16), and when most floors are level its Theil–Sen slope is zero. When
 * `growthOnset` finds the bend, the floors after it are judged on their own, as a young
 * incarnation would be: a trend test at a quarter of the level (the bend was chosen to fit them),
 * at least twice the minimum rate, still growing in their last third, and risen above every floor
 * before the bend by the noise and by 5 % of the process (a daily cycle's ramp comes back to its
 * earlier peak; a leak leaves it behind). Null when there is no such leak.
 */
function growthSinceOnset(
  f: Floors,
  level: number,
  residualSigma: number,
  opts: Required<ScoreOptions>,
): { onset: GrowthOnset; pValue: number } | null {
  const n = f.xs.length;
  const spanHours = (f.lastMs - f.firstMs) / 3_600_000;
  if (n < ONSET_MIN_POINTS || spanHours < 6) return null;
  const minRise = Math.max(opts.minGrowthSigmas * residualSigma, 0.05 * level);
  // The rise below needs the newest floor above every floor of the first third (the onset
  // leaves at least that much before it): checked first, in O(n), so that the O(n³) search for
  // the onset runs only for the few processes that can pass.
  let firstThirdMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < Math.ceil(n / 3); i++) {
    firstThirdMax = Math.max(firstThirdMax, f.ys[i] as number);
  }
  if (!((f.ys[n - 1] as number) - firstThirdMax >= minRise)) return null;
  const onset = growthOnset(f.xs, f.ys, f.firstMs);
  if (onset === null) return null;
  const atHours = (onset.atMs - f.firstMs) / 3_600_000;
  const k = f.xs.findIndex((x) => x > atHours);
  if (k < n / 3 || n - k < ONSET_MIN_POINTS_AFTER) return null;
  const xs = f.xs.slice(k);
  const ys = f.ys.slice(k);
  const slope = onset.slopeAfterKbPerHour;
  if (!((slope / level) * 100 >= 2 * opts.minPctPerHour && slope >= opts.minKbPerHour)) {
    return null;
  }
  const after = mannKendall(xs, ys, { senSlope: slope });
  if (!(after.pIncreasing < opts.alpha / 4)) return null;
  const th = thirds(xs, ys);
  if (!(th.thirdHours > 0 && (th.m3 - th.m2) / th.thirdHours >= opts.minRecentShare * slope)) {
    return null;
  }
  let beforeMax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < k; i++) beforeMax = Math.max(beforeMax, f.ys[i] as number);
  const lastQuarter = ys.slice(Math.floor((ys.length * 3) / 4));
  if (!(Math.min(...lastQuarter) - beforeMax >= minRise)) return null;
  // The bend was chosen to fit these floors: their p-value counts four times over.
  return { onset, pValue: Math.min(1, 4 * after.pIncreasing) };
}

/**
 * When a leak the whole observation's trend already shows began, if its floors were level before
 * (null when it grew all along): `top` and the reports say since when, whichever rule decided.
 */
function onsetOfLeak(f: Floors): GrowthOnset | null {
  const n = f.xs.length;
  if (n < ONSET_MIN_POINTS) return null;
  // Most leaks grow all along: their first third rises about as fast as their last. Telling so
  // costs two small Theil–Sen fits, and spares them the O(n³) search.
  const third = Math.floor(n / 3);
  const first = theilSen(f.xs.slice(0, third), f.ys.slice(0, third)).slope;
  const last = theilSen(f.xs.slice(n - third), f.ys.slice(n - third)).slope;
  if (!(last > 0 && first <= MAX_BEFORE_SHARE * last)) return null;
  return growthOnset(f.xs, f.ys, f.firstMs);
}

/** Fewest floors for a leak that began inside the observation to be judged on its own… */
const ONSET_MIN_POINTS = 12;
/** …and after its onset: six floors rising in order are p = 1/720, within a quarter of 1 %. */
const ONSET_MIN_POINTS_AFTER = 6;

/** Judges one incarnation from its buckets. Cost: O(targetBlocks²), whatever the sample count. */
export function scoreIncarnation(input: IncarnationInput, options: ScoreOptions): LeakScore {
  return analyseIncarnation(input, options).score;
}

/** `scoreIncarnation` plus the statistics a per-service pooled test needs. */
export function analyseIncarnation(
  input: IncarnationInput,
  options: ScoreOptions,
): IncarnationAnalysis {
  const opts = { ...DEFAULT_SCORE_OPTIONS, ...options } as Required<ScoreOptions>;
  // Startup is not judged: allocators, JITs and caches grow for a while after every start, and
  // a leak that is real is still there once the startup is over.
  const startedAt = input.startedAtMs ?? null;
  const graceUntilMs =
    startedAt === null ? Number.NEGATIVE_INFINITY : startedAt + opts.startupGraceMs;
  const f = floors(input.buckets, opts, graceUntilMs);
  if (!f) {
    // Data in the window but all of it in the startup grace: the process is there, only not
    // judged yet, and a ranking must still list it (with its size) rather than leave it out.
    let newest: MetricBucket | undefined;
    for (const b of input.buckets) {
      if (b.n > 0 && b.tStartMs >= opts.windowStartMs && b.tStartMs < opts.windowEndMs) {
        if (!newest || b.lastAtMs > newest.lastAtMs) newest = b;
      }
    }
    const score: LeakScore = {
      currentKb: newest?.last ?? 0,
      growthKb: 0,
      slopeKbPerHour: 0,
      pctPerHour: 0,
      confidence: 0,
      leak: false,
      timeToLimitHours: null,
      limitKb: input.limitKb ?? null,
      reason: newest ? 'starting-up' : 'no-data',
      growingSinceMs: null,
      pValue: 1,
      spanMs: 0,
      points: 0,
      firstMs: newest?.tStartMs ?? options.windowStartMs,
      lastMs: newest?.lastAtMs ?? options.windowStartMs,
    };
    return { score, trend: null, ageing: null };
  }
  const n = f.xs.length;
  const spanMs = f.lastMs - f.firstMs;
  // The pairwise slopes serve the Theil–Sen line, the trend test's detrending and the pooled
  // per-service slope: computed once.
  const slopes = pairwiseSlopes(f.xs, f.ys);
  const line =
    n >= 2 ? theilSenOfSlopes(f.xs, f.ys, slopes) : { slope: 0, intercept: f.ys[0] ?? 0 };
  const slope = Number.isFinite(line.slope) ? line.slope : 0;
  const endCount = Math.max(1, Math.min(3, Math.floor(n / 6)));
  const endFloor = median(f.ys.slice(-endCount));
  const startFloor = median(f.ys.slice(0, endCount));
  const level = endFloor > 0 ? endFloor : Math.max(1, f.current);
  const pctPerHour = (slope / level) * 100;
  // The end floors sit inside the observation (the median of a few blocks, each block's minimum
  // near its start while memory grows): their difference covers 5 of 6 hourly floors' hours, and
  // a longer window served hourly showed less growth than a shorter one on 5-minute floors.
  // Measured between the ends' centres, stated over the whole observation.
  const endsApartHours = median(f.xs.slice(-endCount)) - median(f.xs.slice(0, endCount));
  const observedHours = spanMs / 3_600_000;
  const overObservation = endsApartHours > 0 ? observedHours / endsApartHours : 1;
  const base = {
    limitKb: input.limitKb ?? null,
    currentKb: f.current,
    growthKb: (endFloor - startFloor) * overObservation,
    slopeKbPerHour: slope,
    pctPerHour,
    spanMs,
    points: n,
    firstMs: f.firstMs,
    lastMs: f.lastMs,
  };
  const windowMs = opts.windowEndMs - opts.windowStartMs;
  const tooLittle = spanMs < opts.minSpanMs || n < 6;
  const tooLittleData: LeakScore = {
    ...base,
    confidence: 0,
    leak: false,
    timeToLimitHours: null,
    reason: 'too-little-data',
    growingSinceMs: null,
    pValue: 1,
  };
  if (n < 3) return { score: tooLittleData, trend: null, ageing: null };
  const test = mannKendall(f.xs, f.ys, { senSlope: line.slope });
  const p = test.pIncreasing;
  // Growth must go on in the most recent third: warm-up and cache fills rise and then hold.
  // Measured as a rate (not a share of the total) so a warm-up at the start does not hide a
  // leak that runs on after it.
  const th = thirds(f.xs, f.ys);
  const { m1, m2, m3 } = th;
  const recentPctPerHour = th.thirdHours > 0 ? ((m3 - m2) / th.thirdHours / level) * 100 : 0;
  const recentShare = pctPerHour > 0 ? recentPctPerHour / pctPerHour : 0;
  const residualSigma = madSigma(
    f.ys.map((y, i) => y - (line.intercept + slope * (f.xs[i] as number))),
  );
  const growth = slope * (spanMs / 3_600_000);
  // The variance correction reads any smooth departure from a straight line (a daily cycle
  // riding on a leak) as persistence and can drown a leak that dwarfs it; over several hours,
  // growth many times the residual spread with at least weak rank evidence is a trend whatever
  // the correction says (and at least a tenth of the process's size, so that a flat series with
  // almost no noise cannot pass on a sliver of drift).
  const dominant =
    spanMs >= 6 * 3_600_000 &&
    n >= 6 &&
    growth >= opts.dominance * residualSigma &&
    growth >= 0.1 * level &&
    p < opts.weakAlpha;
  // Growth in steps or bursts with long flat stretches between them ranks poorly (the flat pairs
  // tie at zero and the correction reads the steps as persistence), however plain it is that the
  // process never came back down. Over several hours, a floor whose every point in the last
  // quarter lies above every point of the first quarter, by the noise and by a tenth of its size,
  // has grown: a rank statement of its own, so it needs no p-value beside it. A daily cycle seen
  // for a day and a half comes back into the range it started in; in a window under a day its
  // ramp passes the rank test anyway, and the day-over-day check below tells the two apart.
  const escaped =
    spanMs >= 6 * 3_600_000 &&
    n >= ESCAPE_MIN_POINTS &&
    escapeAboveStart(f.xs, f.ys) >= Math.max(opts.minGrowthSigmas * residualSigma, 0.1 * level);
  const significant = slope > 0 && (p < opts.alpha || dominant || escaped);
  // Growth within the noise's own reach is not a verdict anyone can act on, however the ranks
  // fall: a process that wanders by ±2 % can show 2 % of "growth" in any few hours. Slow drift
  // is also what settling caches, allocator fragmentation and noise correlated over an hour do:
  // growth must add up to `minGrowthPct` of the process over the observation (at the minimum
  // rate, 20 hours of it), or run at least twice the minimum rate.
  const fastEnough =
    pctPerHour >= opts.minPctPerHour &&
    slope >= opts.minKbPerHour &&
    growth >= opts.minGrowthSigmas * residualSigma &&
    (growth >= (opts.minGrowthPct / 100) * level || pctPerHour >= 2 * opts.minPctPerHour);
  // In an incarnation's first hours a warm-up's tail still rises, ever more slowly: there the
  // growth must also not be slowing down from one third to the next.
  const young = startedAt !== null && f.lastMs - startedAt < opts.youngMs;
  const decelerating = young && m2 - m1 > 2 * residualSigma && m3 - m2 < 0.3 * (m2 - m1);
  // Growth split into a logarithm of the age and a steady rate, for the service's verdict.
  const byAge =
    startedAt !== null
      ? growthByAge(f.xs, f.ys, (f.firstMs - startedAt) / 3_600_000 + (f.xs[0] as number))
      : null;
  const ageing = byAge
    ? {
        ratePct: (byAge.ratePerHour / level) * 100,
        ratePctSe: (byAge.rateSe / level) * 100,
        perLogAgePct: (byAge.perLogAge / level) * 100,
      }
    : null;
  // A new high well above the first two thirds after a pause is growth that goes on: bursts
  // under load. On bench:leaks it found one more leak of `generated-505` (recall 0.935 → 0.952)
  // and changed no other precision or recall of the 20 scenarios or of 40 fresh fleets.
  const persists =
    (m3 > m1 && recentShare >= opts.minRecentShare && !decelerating) ||
    renewedGrowth(f.xs, f.ys, Math.max(opts.minGrowthSigmas * residualSigma, 0.05 * level));
  // Windows shorter than a day cannot see a daily cycle come back: its morning ramp looks like
  // growth and a leak on its evening downswing like none (a day's window sees it once, and its
  // trend test can still read a leak riding it as persistence). When the same hours of the day before
  // are stored, the growth since then decides: the window's growth must also be there a day on
  // (at least a quarter of it, and beyond the noise), and growth over the day of at least 1.75
  // times the minimum rate and four residual spreads is a leak even when the window's own
  // trend is hidden by the cycle.
  // Growth over the day raises a verdict only against a day earlier when the incarnation was past
  // its young hours: a warm-up or a logarithmic growth rises fastest there, and a process a day
  // and a few hours old would otherwise be judged on it.
  const matureFromMs = startedAt === null ? Number.NEGATIVE_INFINITY : startedAt + opts.youngMs;
  // The growth over a day that makes a leak, whichever day before it is measured against.
  const minDayGrowthKb = ((DAY_GROWTH_MIN_RATE_FACTOR * opts.minPctPerHour) / 100) * level * 24;
  const overDay = comparesDayBefore(windowMs)
    ? dayOverDay(f, input.dayBefore, matureFromMs)
    : { all: null, mature: null };
  const daily = overDay.all;
  const dailyMature = overDay.mature;
  const cycleOnly =
    daily !== null && daily < Math.max(opts.minGrowthSigmas * residualSigma, 0.25 * growth);
  const grewOverDay =
    dailyMature !== null && dailyMature >= 4 * residualSigma && dailyMature >= minDayGrowthKb;
  // A window longer than a day holds its own day before. A leak riding a daily cycle of like
  // size is hidden from the trend test, which reads the cycle as persistence (0.8 %/h on a cycle
  // of ±18 % over 36–48 hours: p 0.1–0.3), and from the escape check, but every floor stands
  // above the one a day earlier. The same growth over the day as the day-before check asks,
  // in floor pairs that are positive more often than chance, is a leak. Measured on 40 fresh
  // fleets: leaks missed 52 → 30, false alarms 60 → 57 (docs/analysis.md).
  const withinDay = windowMs > DAY_MS ? dayOverDayInWindow(f, matureFromMs) : null;
  const grewWithinWindowDayOverDay =
    withinDay !== null && withinDay.pValue < opts.alpha && withinDay.growth >= minDayGrowthKb;
  const grewInWindow = significant && fastEnough && persists && !cycleOnly;
  const judgedWhole = grewInWindow || grewOverDay || grewWithinWindowDayOverDay;
  const sinceOnset =
    opts.judgeSinceOnset && !judgedWhole && !cycleOnly
      ? growthSinceOnset(f, level, residualSigma, opts)
      : null;
  // A leak seen for an hour or two sits near the 1 % level: the next quarter-hour's noise lifts
  // its p-value over it and the verdict flickers until more data accumulates. A verdict that the
  // rules gave within the last hour is kept while the evidence has only weakened (p below
  // `weakAlpha`) and the growth still persists, is fast enough and is no daily cycle. The
  // earlier observations are judged by the rules alone, so a verdict is kept at most an hour
  // past the last one they gave. It needs no state: the same buckets, cut earlier.
  const held =
    !judgedWhole &&
    sinceOnset === null &&
    !tooLittle &&
    slope > 0 &&
    p < opts.weakAlpha &&
    fastEnough &&
    persists &&
    !cycleOnly &&
    opts.holdLagsMs.some((lagMs) => {
      const endMs = opts.windowEndMs - lagMs;
      const earlier = analyseIncarnation(
        { ...input, buckets: input.buckets.filter((b) => b.tEndMs <= endMs) },
        { ...options, windowEndMs: endMs, holdLagsMs: [] },
      );
      return earlier.score.leak;
    });
  const leak = judgedWhole || sinceOnset !== null || held;
  let reason: VerdictReason = 'leak';
  if (!leak) {
    if (slope < 0 && test.pTwoSided < opts.alpha) reason = 'shrinking';
    else if (!significant) reason = 'no-significant-trend';
    else if (!fastEnough) reason = 'too-slow';
    else if (!persists) reason = 'levelled-off';
    else reason = 'daily-cycle';
  }

  // A leak seen only day over day grows at that day's rate, whatever the window's slope says (a
  // daily cycle tilts it either way, down to nothing on a downswing): it is shown, scored and run
  // to its limit at that rate, and the day's growth is its persistence.
  const dayRate = grewOverDay
    ? (dailyMature as number) / 24
    : grewWithinWindowDayOverDay
      ? (withinDay?.growth ?? 0) / 24
      : null;
  const byDay = dayRate !== null && !grewInWindow;
  // A leak whose floors were level before it began inside the window, whichever other rule
  // judged it, is shown, scored and run to its limit at the rate since then: the window's slope
  // is diluted by the level stretch before it.
  const began = sinceOnset?.onset ?? (leak && !byDay ? onsetOfLeak(f) : null);
  const shownSlope = began?.slopeAfterKbPerHour ?? (byDay ? dayRate : slope);
  const shownPct = (shownSlope / level) * 100;
  const shownGrowth = began
    ? endFloor - startFloor
    : byDay
      ? dayRate * (spanMs / 3_600_000)
      : growth;
  const snr = residualSigma > 0 ? shownGrowth / (2 * residualSigma) : shownGrowth > 0 ? 10 : 0;
  const evidence = evidenceOf(
    Math.min(p, sinceOnset?.pValue ?? 1, grewWithinWindowDayOverDay ? (withinDay?.pValue ?? 1) : 1),
  );
  const coverage = Math.sqrt(clamp01(spanMs / windowMs));
  const count = Math.sqrt(clamp01(n / 24));
  const noise = clamp01(snr / (snr + 1));
  // growthSinceOnset checked that the growth goes on in its last third.
  const persistence = sinceOnset || byDay ? 1 : clamp01(recentShare / 0.5);
  const speed = speedOf(shownPct, opts.minPctPerHour);
  const confidence = evidence * coverage * count * noise * persistence * speed;

  const limit = input.limitKb ?? null;
  const rate =
    began !== null
      ? began.slopeAfterKbPerHour
      : byDay
        ? dayRate
        : significant && slope > 0
          ? slope
          : 0;
  const timeToLimitHours = hoursToLimit(f.current, rate, limit);
  // Floors are in time order, so every pair has dx > 0: the pairwise slopes in % of the level.
  const pctSlopes = slopes.map((v) => (v * 100) / level);
  const trend = {
    s: test.s,
    varS: test.varS * test.varianceFactor,
    pctSlopes,
    slopeKbPerHour: slope,
    persists,
  };
  if (tooLittle) {
    // Too short to judge alone, but its trend still counts when a service's incarnations are
    // pooled (a service restarted every few hours never has one long incarnation).
    return { score: tooLittleData, trend, ageing };
  }
  return {
    score: {
      ...base,
      slopeKbPerHour: shownSlope,
      pctPerHour: shownPct,
      confidence: Math.round(confidence * 1000) / 1000,
      leak,
      timeToLimitHours,
      reason,
      growingSinceMs: began?.atMs ?? null,
      pValue: p,
    },
    trend,
    ageing,
  };
}
