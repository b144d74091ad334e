import { EXACT_MAX_POINTS, exactUpperTail } from './mann-kendall-exact.ts';
import { normalQuantile, normalUpperTail } from './normal.ts';
import { theilSen } from './theil-sen.ts';

export interface TrendTest {
  /** Kendall's S: pairs that increase minus pairs that decrease. */
  s: number;
  /** Variance of S under no trend, ties accounted for, before any correction. */
  varS: number;
  /** Hamed–Rao variance inflation n/n* (1 when the ranks show no significant autocorrelation). */
  varianceFactor: number;
  /** Continuity-corrected z score on the corrected variance. */
  z: number;
  /** One-sided p-value for an increasing trend. */
  pIncreasing: number;
  /** Two-sided p-value. */
  pTwoSided: number;
  /** Points tested, and whether the p-values come from the exact distribution of S. */
  n: number;
  exact: boolean;
}

export interface MannKendallOptions {
  /**
   * Correct the variance for serial correlation (Hamed & Rao 1998): rank autocorrelations of the
   * Sen-detrended series at lags whose correlation is significant at `acfAlpha` inflate Var(S).
   * Without it, the smooth wander of a memory series reads as a trend far more often than α.
   */
  autocorrelation?: boolean;
  acfAlpha?: number;
  /** Highest lag considered; default n/3 since higher lags rest on too few pairs. */
  maxLag?: number;
  /** The Theil–Sen slope of the series, when the caller has it already (saves recomputing it). */
  senSlope?: number;
}

/**
 * Mann–Kendall trend test with the Hamed–Rao modification.
 * Reference: K. H. Hamed, A. R. Rao, "A modified Mann-Kendall trend test for autocorrelated
 * data", Journal of Hydrology 204 (1998) 182–196.
 */
export function mannKendall(
  xs: readonly number[],
  ys: readonly number[],
  options: MannKendallOptions = {},
): TrendTest {
  const n = Math.min(xs.length, ys.length);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const yi = ys[i] as number;
    for (let j = i + 1; j < n; j++) s += Math.sign((ys[j] as number) - yi);
  }
  let varS = (n * (n - 1) * (2 * n + 5)) / 18;
  const ties = tieGroupSizes(ys, n);
  for (const t of ties) varS -= (t * (t - 1) * (2 * t + 5)) / 18;

  let varianceFactor = 1;
  if ((options.autocorrelation ?? true) && n >= 6) {
    varianceFactor = hamedRaoFactor(
      xs,
      ys,
      n,
      options.acfAlpha ?? 0.05,
      options.maxLag,
      options.senSlope ?? theilSen(xs, ys).slope,
    );
  }
  const corrected = varS * varianceFactor;
  const z = corrected > 0 ? (s - Math.sign(s)) / Math.sqrt(corrected) : 0;
  // With a dozen points or fewer and no ties the exact distribution of S is used; the
  // autocorrelation correction then shrinks S by the same factor it widens the normal
  // approximation's standard deviation.
  if (n >= 2 && n <= EXACT_MAX_POINTS && ties.length === 0) {
    const shrunk = s / Math.sqrt(varianceFactor);
    return {
      s,
      varS,
      varianceFactor,
      z,
      pIncreasing: exactUpperTail(n, shrunk),
      pTwoSided: Math.min(1, 2 * exactUpperTail(n, Math.abs(shrunk))),
      n,
      exact: true,
    };
  }
  return {
    s,
    varS,
    varianceFactor,
    z,
    pIncreasing: normalUpperTail(z),
    pTwoSided: Math.min(1, 2 * normalUpperTail(Math.abs(z))),
    n,
    exact: false,
  };
}

function tieGroupSizes(ys: readonly number[], n: number): number[] {
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const y = ys[i] as number;
    counts.set(y, (counts.get(y) ?? 0) + 1);
  }
  return [...counts.values()].filter((c) => c > 1);
}

function hamedRaoFactor(
  xs: readonly number[],
  ys: readonly number[],
  n: number,
  acfAlpha: number,
  maxLag: number | undefined,
  slope: number,
): number {
  const detrended: number[] = [];
  for (let i = 0; i < n; i++) {
    detrended.push((ys[i] as number) - (Number.isFinite(slope) ? slope * (xs[i] as number) : 0));
  }
  const ranks = rank(detrended);
  const mean = (n + 1) / 2;
  let denom = 0;
  for (const r of ranks) denom += (r - mean) ** 2;
  if (denom === 0) return 1;
  const acf = (k: number) => {
    let num = 0;
    for (let i = 0; i + k < n; i++)
      num += ((ranks[i] as number) - mean) * ((ranks[i + k] as number) - mean);
    return num / denom;
  };
  const bound = normalQuantile(1 - acfAlpha / 2) / Math.sqrt(n);
  const lagLimit = Math.min(n - 3, maxLag ?? Math.floor(n / 3));
  // Hamed–Rao sums the lags whose correlation is significant; on the few dozen points a
  // window has, that misses most of a persistent wander. The lag-1 correlation, bias-corrected
  // (Kendall: E[r1] ≈ ρ − (1 + 4ρ)/n) and extended as an AR(1) decay, is the floor.
  const r1 = acf(1);
  const ar = Math.min(0.95, Math.max(0, r1 + (1 + 4 * r1) / n));
  let sum = 0;
  for (let k = 1; k <= n - 3; k++) {
    const rho = k <= lagLimit ? acf(k) : 0;
    const fromAr = ar ** k;
    sum += (n - k) * (n - k - 1) * (n - k - 2) * Math.max(Math.abs(rho) > bound ? rho : 0, fromAr);
  }
  const factor = 1 + (2 / (n * (n - 1) * (n - 2))) * sum;
  // Negative correlation would shrink the variance below the independent case; a leak verdict
  // must never become easier because of it, so the factor is floored at 1.
  return Math.max(1, factor);
}

/** Ranks 1..n with ties given their average rank. */
export function rank(values: readonly number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length).fill(0);
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (
      j + 1 < order.length &&
      (order[j + 1] as readonly [number, number])[0] === (order[i] as readonly [number, number])[0]
    )
      j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[(order[k] as readonly [number, number])[1]] = avg;
    i = j + 1;
  }
  return ranks;
}
