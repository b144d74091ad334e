import { median } from './quantile.ts';

export interface RobustLine {
  /** Median of all pairwise slopes, in y units per x unit. */
  slope: number;
  /** Median of y − slope·x, so the line passes through the middle of the data. */
  intercept: number;
}

/**
 * Theil–Sen estimator: the median of the slopes through every pair of points. It tolerates up
 * to ~29 % arbitrarily bad points, which is what lets one allocation spike or one swapped-in
 * burst not move the trend. O(n²) pairs; callers aggregate to a bounded number of points first.
 */
export function theilSen(xs: readonly number[], ys: readonly number[]): RobustLine {
  return theilSenOfSlopes(xs, ys, pairwiseSlopes(xs, ys));
}

/** The slope through every pair of points (i < j) with distinct x, in pair order. */
export function pairwiseSlopes(xs: readonly number[], ys: readonly number[]): number[] {
  const n = Math.min(xs.length, ys.length);
  const slopes: number[] = [];
  for (let i = 0; i < n; i++) {
    const xi = xs[i] as number;
    const yi = ys[i] as number;
    for (let j = i + 1; j < n; j++) {
      const dx = (xs[j] as number) - xi;
      if (dx !== 0) slopes.push(((ys[j] as number) - yi) / dx);
    }
  }
  return slopes;
}

/** Theil–Sen from pairwise slopes already computed (so a caller needing both computes them once). */
export function theilSenOfSlopes(
  xs: readonly number[],
  ys: readonly number[],
  slopes: readonly number[],
): RobustLine {
  const n = Math.min(xs.length, ys.length);
  if (slopes.length === 0) return { slope: Number.NaN, intercept: Number.NaN };
  const slope = median(slopes);
  const residuals: number[] = [];
  for (let i = 0; i < n; i++) residuals.push((ys[i] as number) - slope * (xs[i] as number));
  return { slope, intercept: median(residuals) };
}

/**
 * Repeated-medians slope (Siegel): for each point the median slope to all others, then the
 * median of those. Breakdown point 50 %, at the cost of more variance than Theil–Sen.
 */
export function repeatedMedianSlope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  const perPoint: number[] = [];
  for (let i = 0; i < n; i++) {
    const own: number[] = [];
    for (let j = 0; j < n; j++) {
      const dx = (xs[j] as number) - (xs[i] as number);
      if (j !== i && dx !== 0) own.push(((ys[j] as number) - (ys[i] as number)) / dx);
    }
    if (own.length > 0) perPoint.push(median(own));
  }
  return perPoint.length === 0 ? Number.NaN : median(perPoint);
}
