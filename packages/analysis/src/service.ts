import { normalUpperTail } from './normal.ts';
import { madSigma, median } from './quantile.ts';
import {
  type AgeingFit,
  analyseIncarnation,
  DEFAULT_SCORE_OPTIONS,
  evidenceOf,
  hoursToLimit,
  type IncarnationAnalysis,
  type IncarnationInput,
  type IncarnationTrend,
  type LeakScore,
  type ScoreOptions,
  speedOf,
} from './score.ts';

export type ServiceReason =
  | 'latest-incarnation-leaks'
  | 'every-incarnation-grows'
  /** growth that slows with each incarnation's age, with no steady rate beside it */
  | 'grows-logarithmically'
  | 'not-leaking'
  | 'too-little-data';

export interface ServiceScore {
  leak: boolean;
  reason: ServiceReason;
  /** The verdict on the most recent incarnation that had enough data to be judged. */
  latest: LeakScore | null;
  /** One verdict per incarnation, oldest first. */
  incarnations: LeakScore[];
  /** Incarnations long enough for a verdict of their own. */
  judgedIncarnations: number;
  /** Incarnations with enough points to enter the pooled test. */
  pooledIncarnations: number;
  /** Pooled incarnations whose floor kept growing to their end (no plateau). */
  growingIncarnations: number;
  /** Pooled over the incarnations with a trend (null with fewer than two). */
  pooled: { pValue: number; pctPerHour: number } | null;
  /**
   * What a ranking shows for the service: `latest`, or the newest incarnation's score when none
   * was judged, except when the pooled test decided. Then the slope, rate, confidence and time to
   * limit are the pooled test's: the newest incarnation is usually too young for figures of its
   * own, and a leak shown with no slope and no confidence is no help. An incarnation still in its
   * startup grace is shown (`starting-up`) when no other has floors. Null without any data.
   */
  shown: LeakScore | null;
}

/**
 * A window shorter than this pools, for a service restarted within it, the incarnations that ended
 * in this span before the window's end: a service restarted every few hours shows only two or
 * three incarnations to a 6-hour window, the newest too young to judge, too few for the pooled
 * test to reach its level on a plain leak.
 */
export const SERVICE_LOOKBACK_MS = 24 * 3_600_000;

/**
 * A service whose every incarnation in a window was first seen within this span before the
 * window's end (and inside the window) is judged on 5-minute buckets whatever the window's own
 * resolution: the first hours of what storage holds of it (a new service, or a host whose agent
 * just started). Hourly floors give a service restarted every 3–5 hours three or four floors per
 * incarnation, too few for any verdict, so a leak flagged on its first hours would be lost for
 * hours once its history passed six hours and the window's hourly buckets took over. Measured on
 * bench:leaks (restarted services first seen at the scenario's start): leaks that grew ≥ 2 %/h
 * in their first 2 hours and stay flagged from then on, 41 → 57 of 268; no final verdict of the
 * 20 scenarios changed (docs/analysis.md gives the costs: some leaks confirmed later).
 */
export const YOUNG_SERVICE_MS = 12 * 3_600_000;

/**
 * Whether a service judged over [`windowStartMs`, `windowEndMs`) on buckets coarser than five
 * minutes is young enough to be judged on its 5-minute buckets instead (`YOUNG_SERVICE_MS`):
 * `firstSeenMs` are the first sightings of its incarnations that ran in the window.
 */
export function judgedOnFineBuckets(
  firstSeenMs: readonly number[],
  windowStartMs: number,
  windowEndMs: number,
): boolean {
  const since = Math.max(windowStartMs, windowEndMs - YOUNG_SERVICE_MS);
  return firstSeenMs.length > 0 && firstSeenMs.every((t) => t >= since);
}

/**
 * Whether a service judged over a window of `windowMs` in which `incarnationsInWindow` of its
 * incarnations ran should also be given its earlier incarnations of the last
 * `SERVICE_LOOKBACK_MS`: only a service restarted within a window shorter than that.
 */
export function wantsEarlierIncarnations(windowMs: number, incarnationsInWindow: number): boolean {
  return windowMs < SERVICE_LOOKBACK_MS && incarnationsInWindow >= 2;
}

/**
 * Whether a service judged over a window of `windowMs` on hourly buckets (`servedHourly`: a
 * window over 6 hours, the service not young) should give the pooled test its incarnations'
 * 5-minute buckets in the window (`IncarnationInput.pooledBuckets`): when it also takes in the
 * day's earlier incarnations (`wantsEarlierIncarnations`), which come at 5 minutes. The Mann–
 * Kendall S of an incarnation grows with the square of its floors, so a 5-hour incarnation on
 * 10-minute floors outweighed one on hourly floors about thirtyfold: on a daily load, the
 * window's incarnations on the downswing were all but left out, the earlier ones on the ramp
 * decided, and the pooled test flagged services that do not leak (p = 3·10⁻⁶ for one whose
 * window incarnations fell 2–4 %/h). Only their newest incarnation, which had to keep growing,
 * stopped that, and it stopped as well every leak whose newest incarnation met the downswing.
 * On floors of one resolution each incarnation weighs by its length, the day's rises and falls
 * cancel, and the newest incarnation no longer has to grow (see `scoreService`). Measured in
 * docs/analysis.md ("How the verdict is reached", 7).
 */
export function pooledOnFineBuckets(
  windowMs: number,
  servedHourly: boolean,
  incarnationsInWindow: number,
): boolean {
  return servedHourly && wantsEarlierIncarnations(windowMs, incarnationsInWindow);
}

/**
 * A restarted service's figures as the pooled test sees them, on the newest judged incarnation's
 * level: the pooled rate (median of the within-incarnation slopes) times its current size, the
 * time to its limit at that rate, and a confidence from the pooled p-value and the rate (the same
 * two terms as one incarnation's, score.ts).
 */
function pooledScore(
  score: LeakScore,
  pooled: { pValue: number; pctPerHour: number },
  minPctPerHour: number,
): LeakScore {
  const slopeKbPerHour = (pooled.pctPerHour / 100) * score.currentKb;
  const evidence = evidenceOf(pooled.pValue);
  const speed = speedOf(pooled.pctPerHour, minPctPerHour);
  return {
    ...score,
    slopeKbPerHour,
    pctPerHour: pooled.pctPerHour,
    confidence: Math.round(Math.max(0, evidence * speed) * 1000) / 1000,
    leak: true,
    reason: 'leak',
    // The pooled rate runs through every incarnation: no onset inside the newest one.
    growingSinceMs: null,
    pValue: pooled.pValue,
    timeToLimitHours: hoursToLimit(score.currentKb, slopeKbPerHour, score.limitKb),
  };
}

/**
 * The share of a restarted service's pooled incarnations that must still be growing at their end
 * for the pooled test to call it a leak. Half of them, as before, missed bursty leaks restarted
 * every few hours (3 of 7 incarnations ending on a burst); warm-ups leave almost none growing.
 * Measured in docs/analysis.md ("How the verdict is reached", 7).
 */
export const GROWING_SHARE = 0.4;

/**
 * The pooled test flags a service only while its newest incarnation still grows; an incarnation
 * observed for less than this (after its startup grace) has not shown its trend yet, and the one
 * before it answers instead. Hourly floors left such an incarnation out of the pooled test anyway
 * (too few floors); on 5-minute floors (a young service, windows up to 6 hours) its first hour or
 * two, on a daily cycle's downswing or in a bursty leak's pause, vetoed the growth every earlier
 * incarnation showed. Measured on bench:leaks: no final verdict changed, leaks confirmed within 2
 * hours 57 → 59 over the scenarios' windows and 49 → 53 over `top`'s, 16 leaks confirmed earlier
 * and none later, false-alarm time +0.1 point on two scenarios.
 */
export const NEWEST_SHOWN_MS = 2 * 3_600_000;

/**
 * An earlier incarnation that lived shorter than this cannot give the pooled test a trend after
 * its startup: storage reads none (the many short runs of a cron job cost no read).
 */
export const EARLIER_MIN_LIFE_MS = 30 * 60_000;

/** A service's incarnations that ended before the window, from `fromMs` on. */
export interface EarlierIncarnations {
  fromMs: number;
  incarnations: readonly IncarnationInput[];
}

/**
 * Whether a restarted service's growth is the logarithm of each incarnation's age and no leak
 * beside it: the steady rates of its incarnations (`growthByAge`, score.ts) are, with confidence,
 * below `minLeakPct`, the slowest rate its verdicts call a leak. An index rebuilt at every start
 * rises 0.5–1 %/h a few hours in, in every incarnation, and both the newest incarnation's test
 * and the pooled test call it a leak; its steady rate is 0 ± 0.5 %/h where a leak's is the leak.
 * The rates are pooled by their median, and its standard error taken from the larger of the
 * fits' own errors and the spread between incarnations (a bursty leak's rates scatter widely),
 * over √k; the bound is two standard errors above. The median must also lie within the minimum
 * below zero: a warm-up still filling past the startup grace falls faster than a logarithm, the
 * fit reads its tail as one and the leak after it as a steady fall (−1.9 %/h for a cache that
 * fills 80 % in 20 minutes and leaks 1.5 %/h), and that service was vetoed now and then. Two
 * incarnations at least.
 */
export function growsLogarithmically(fits: readonly AgeingFit[], minLeakPct: number): boolean {
  if (fits.length < 2) return false;
  const rates = fits.map((f) => f.ratePct);
  const spread = Math.max(median(fits.map((f) => f.ratePctSe)), madSigma(rates));
  const rate = median(rates);
  const upper = rate + (2 * MEDIAN_SE_FACTOR * spread) / Math.sqrt(fits.length);
  return upper < minLeakPct && rate > -minLeakPct && median(fits.map((f) => f.perLogAgePct)) > 0;
}

/** The standard error of a median of k normal values is about this times σ/√k. */
const MEDIAN_SE_FACTOR = 1.2533;

/** An incarnation as the pooled test reads it: its trend and its observed span. */
interface Stratum {
  trend: IncarnationTrend | null;
  spanMs: number;
}

const stratumOf = (a: IncarnationAnalysis): Stratum => ({ trend: a.trend, spanMs: a.score.spanMs });

/** A service that grows logarithmically: not leaking, its newest incarnation shown levelled off. */
function levelledOff(base: Omit<ServiceScore, 'leak' | 'reason'>): ServiceScore {
  const shown: LeakScore | null = base.shown && {
    ...base.shown,
    leak: false,
    reason: 'levelled-off',
    confidence: 0,
    timeToLimitHours: null,
    growingSinceMs: null,
  };
  return { ...base, shown, leak: false, reason: 'grows-logarithmically' };
}

/**
 * The per-service pivot over incarnations. A restarted process is a new incarnation; a service
 * restarted (by an OOM kill, a cron job, a deploy) before any single incarnation shows enough
 * growth still leaks when its incarnations, taken together, keep growing. The incarnations are
 * pooled as the strata of a stratified Mann–Kendall test (Hirsch's seasonal Kendall: S and its
 * corrected variance add up) with the median of the within-incarnation slopes as the pooled
 * slope, so a restart's drop never counts as shrinkage and never hides the growth.
 * `earlier` adds the incarnations that ended before the window to the pooled test, and lets one
 * of them that plainly shrank stop the newest incarnation's rise from deciding alone (see
 * `wantsEarlierIncarnations`); they are never the verdict's own incarnation.
 */
export function scoreService(
  incarnations: readonly IncarnationInput[],
  options: ScoreOptions,
  earlier?: EarlierIncarnations,
): ServiceScore {
  const opts = { ...DEFAULT_SCORE_OPTIONS, ...options };
  const all = incarnations
    .map((inc) => {
      const a = analyseIncarnation(inc, options);
      const fine =
        inc.pooledBuckets && analyseIncarnation({ ...inc, buckets: inc.pooledBuckets }, options);
      return { ...a, stratum: stratumOf(fine || a) };
    })
    .sort((a, b) => a.score.firstMs - b.score.firstMs);
  // Only incarnations with floors past their startup take part in any verdict; one still in its
  // startup is only what the ranking shows when no other has anything to show.
  const analysed = all.filter(
    (a) => a.score.reason !== 'no-data' && a.score.reason !== 'starting-up',
  );
  const startingUp = all.filter((a) => a.score.reason === 'starting-up').at(-1)?.score ?? null;
  // Incarnations that ended before the window are judged over the lookback before it; only their
  // trends (in the pooled test) and their falls count: the window's own verdict stays the window's.
  const before =
    earlier && earlier.fromMs < options.windowStartMs
      ? earlier.incarnations
          .map((inc) =>
            analyseIncarnation(inc, {
              ...options,
              windowStartMs: earlier.fromMs,
              windowEndMs: options.windowStartMs,
            }),
          )
          .filter((a) => a.trend !== null)
          .sort((a, b) => a.score.firstMs - b.score.firstMs)
          .map((a) => ({ ...a, stratum: stratumOf(a) }))
      : [];
  // Pooled: every incarnation with a trend (three floor points or more); judged alone: those
  // long enough for a verdict of their own.
  const pooledIn = [...before, ...analysed]
    .map((a) => a.stratum)
    .filter((p): p is Stratum => p.trend !== null);
  const judged = analysed.filter((a) => a.score.reason !== 'too-little-data');
  const growing = pooledIn.filter((a) => a.trend?.persists && (a.trend?.slopeKbPerHour ?? 0) > 0);
  const latest = judged[judged.length - 1]?.score ?? null;
  let pooled: ServiceScore['pooled'] = null;
  if (pooledIn.length >= 2) {
    let s = 0;
    let v = 0;
    const slopes: number[] = [];
    for (const a of pooledIn) {
      if (!a.trend) continue;
      s += a.trend.s;
      v += a.trend.varS;
      for (const x of a.trend.pctSlopes) slopes.push(x);
    }
    const z = v > 0 ? (s - Math.sign(s)) / Math.sqrt(v) : 0;
    pooled = { pValue: normalUpperTail(z), pctPerHour: median(slopes) };
  }
  const newestScore = analysed[analysed.length - 1]?.score ?? null;
  const base = {
    latest,
    shown: latest ?? newestScore ?? startingUp,
    incarnations: analysed.map((a) => a.score),
    judgedIncarnations: judged.length,
    pooledIncarnations: pooledIn.length,
    growingIncarnations: growing.length,
    pooled,
  };
  // One incarnation's rise is no evidence of a leak when another incarnation of the service fell
  // as plainly within the window: its memory follows the load down as well as up (a daily cycle
  // cut by restarts every few hours shows one incarnation its ramp and another its downswing).
  // The trend test of one incarnation assumes a level without the leak; such a service has none,
  // and its incarnations pooled decide instead (below), where the fall counts against the rise.
  // The incarnations of the day before a short window count too: a 6-hour window on the morning
  // ramp holds only rising incarnations of a service whose evening ones fell (measured in
  // docs/analysis.md: on 48 daily-load services restarted every 3–5 hours, false alarms 11 → 0).
  const everyIncarnation = [...before, ...analysed];
  const anotherShrank = everyIncarnation.some(
    (a) => a.score !== latest && a.score.reason === 'shrinking',
  );
  // The practical size of one incarnation's verdict (score.ts), over a typical incarnation: at
  // the minimum rate, a few hours' creep (the tail of every restart's warm-up) is not a leak.
  const typicalHours = median(pooledIn.map((a) => a.spanMs / 3_600_000));
  // The slowest steady rate this service's verdicts call a leak over its typical incarnation.
  const minLeakPct = Math.max(
    opts.minPctPerHour,
    Math.min(2 * opts.minPctPerHour, opts.minGrowthPct / typicalHours),
  );
  const logarithmic = growsLogarithmically(
    everyIncarnation.flatMap((a) => (a.ageing ? [a.ageing] : [])),
    minLeakPct,
  );
  if (latest?.leak && logarithmic) return levelledOff(base);
  if (latest?.leak && !anotherShrank) {
    return { ...base, leak: true, reason: 'latest-incarnation-leaks' };
  }
  // Many incarnations must grow to their end: a warm-up that levels off in each incarnation is
  // not a leak however often the service restarts, and the most recent must still be growing.
  // Not most of them: a leak that grows only in bursts under load ends an incarnation on a quiet
  // stretch about as often as not (see GROWING_SHARE).
  // On floors of one resolution the day's incarnations weigh by their length, and a newest one on
  // a daily load's downswing is outweighed, as it should be, by the others' leak: it no longer
  // has to keep growing (`pooledOnFineBuckets`).
  const pooledOnFine = incarnations.some((i) => i.pooledBuckets !== undefined);
  const newest =
    pooledIn.findLast((a) => a.spanMs >= NEWEST_SHOWN_MS) ?? pooledIn[pooledIn.length - 1];
  if (
    pooled &&
    pooled.pValue < opts.alpha &&
    pooled.pctPerHour >= opts.minPctPerHour &&
    (pooled.pctPerHour >= 2 * opts.minPctPerHour ||
      pooled.pctPerHour * typicalHours >= opts.minGrowthPct) &&
    growing.length >= GROWING_SHARE * pooledIn.length &&
    (pooledOnFine || (newest?.trend?.slopeKbPerHour ?? 0) > 0)
  ) {
    if (logarithmic) return levelledOff(base);
    const shown = base.shown && pooledScore(base.shown, pooled, opts.minPctPerHour);
    return { ...base, shown, leak: true, reason: 'every-incarnation-grows' };
  }
  if (latest === null && pooled === null)
    return { ...base, leak: false, reason: 'too-little-data' };
  return { ...base, leak: false, reason: 'not-leaking' };
}
