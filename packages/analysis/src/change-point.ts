import { median } from './quantile.ts';
import { theilSen } from './theil-sen.ts';

/** When a process's memory floor, flat before, began to grow. */
export interface GrowthOnset {
  /** The estimated start of the growth, ms. */
  atMs: number;
  /** Theil–Sen slopes of the floors before and after it, KiB/h. */
  slopeBeforeKbPerHour: number;
  slopeAfterKbPerHour: number;
}

export interface OnsetOptions {
  /** Fewest floors on either side of the change. */
  minSegmentPoints?: number;
  /** The growth before may run at most this share of the growth after. */
  maxBeforeShare?: number;
  /** Two lines must leave at most this share of one line's absolute residuals. */
  maxCostShare?: number;
  /** Growth after the change, in typical absolute residuals, that counts as evident. */
  minGrowthResiduals?: number;
}

/** The default of `maxBeforeShare`: the level before may rise a quarter as fast as the growth. */
export const MAX_BEFORE_SHARE = 0.25;

const DEFAULTS: Required<OnsetOptions> = {
  minSegmentPoints: 4,
  maxBeforeShare: MAX_BEFORE_SHARE,
  maxCostShare: 0.7,
  minGrowthResiduals: 4,
};

function absResiduals(xs: readonly number[], ys: readonly number[], lo: number, hi: number) {
  const px = xs.slice(lo, hi);
  const py = ys.slice(lo, hi);
  const line = theilSen(px, py);
  const residuals = py.map((y, i) => Math.abs(y - line.intercept - line.slope * (px[i] as number)));
  return { line, residuals, cost: residuals.reduce((s, r) => s + r, 0) };
}

/**
 * The point where a series of memory floors that was level begins to grow, or null when there
 * is none to tell: growth throughout, no growth, or a change no clearer than the noise.
 *
 * Every split leaving `minSegmentPoints` floors on each side is fitted with two Theil–Sen lines
 * (robust, like the verdict's own slope); the split whose lines leave the smallest sum of absolute
 * residuals wins. It counts only when the two lines explain the floors clearly better than one
 * (`maxCostShare`), the floors were nearly level before (`maxBeforeShare` of the later rate) and
 * grew after by several typical residuals. The onset is where the two lines meet, kept between
 * the last floor before and the first after: a ramp's onset lies on the lines' crossing, a step's
 * between the two floors it falls between. Cost O(n³) in floors, which the scorer bounds to a few
 * dozen.
 *
 * `xs` are hours since `firstMs`, in increasing order; `ys` the floors, KiB.
 */
export function growthOnset(
  xs: readonly number[],
  ys: readonly number[],
  firstMs: number,
  options: OnsetOptions = {},
): GrowthOnset | null {
  const o = { ...DEFAULTS, ...options };
  const n = Math.min(xs.length, ys.length);
  if (n < 2 * o.minSegmentPoints) return null;
  let best: { k: number; cost: number } | null = null;
  for (let k = o.minSegmentPoints; k <= n - o.minSegmentPoints; k++) {
    const cost = absResiduals(xs, ys, 0, k).cost + absResiduals(xs, ys, k, n).cost;
    if (best === null || cost < best.cost) best = { k, cost };
  }
  if (best === null) return null;
  const single = absResiduals(xs, ys, 0, n);
  const before = absResiduals(xs, ys, 0, best.k);
  const after = absResiduals(xs, ys, best.k, n);
  const sBefore = before.line.slope;
  const sAfter = after.line.slope;
  if (!(sAfter > 0) || !Number.isFinite(sBefore)) return null;
  if (sBefore > o.maxBeforeShare * sAfter) return null;
  if (!(best.cost <= o.maxCostShare * single.cost)) return null;
  const typical = median([...before.residuals, ...after.residuals]);
  const xFirstAfter = xs[best.k] as number;
  const xLast = xs[n - 1] as number;
  const xLastBefore = xs[best.k - 1] as number;
  // Growth from the level before to the end, on the fitted lines.
  const levelBefore = before.line.intercept + sBefore * xLastBefore;
  const levelEnd = after.line.intercept + sAfter * xLast;
  if (!(levelEnd - levelBefore > o.minGrowthResiduals * Math.max(typical, 1))) return null;
  const crossing = (before.line.intercept - after.line.intercept) / (sAfter - sBefore);
  const x = Number.isFinite(crossing)
    ? Math.min(xFirstAfter, Math.max(xLastBefore, crossing))
    : (xLastBefore + xFirstAfter) / 2;
  return {
    atMs: firstMs + Math.round(x * 3_600_000),
    slopeBeforeKbPerHour: sBefore,
    slopeAfterKbPerHour: sAfter,
  };
}
