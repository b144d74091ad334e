import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketize,
  FIVE_MINUTES_MS,
  HOUR_MS,
  leastSquaresSlopePerHour,
  type MetricPoint,
  mergeBuckets,
  mergeIntoHours,
} from './buckets.ts';

const T0 = Date.UTC(2026, 10, 1);

function rawLeastSquaresPerHour(points: MetricPoint[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.tMs, 0) / n;
  const my = points.reduce((s, p) => s + p.value, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.tMs - mx) * (p.value - my);
    sxx += (p.tMs - mx) ** 2;
  }
  return (sxy / sxx) * HOUR_MS;
}

const pointsArb = fc
  .array(
    fc.record({
      dt: fc.integer({ min: 0, max: 6 * HOUR_MS }),
      value: fc.integer({ min: 0, max: 64 * 1024 * 1024 }),
    }),
    { minLength: 2, maxLength: 300 },
  )
  .map((ps) => ps.map((p) => ({ tMs: T0 + p.dt, value: p.value })));

describe('buckets', () => {
  it('keep floor, peak, last and count of each 5-minute slot', () => {
    const bs = bucketize([
      { tMs: T0 + 1000, value: 50 },
      { tMs: T0 + 61_000, value: 20 },
      { tMs: T0 + 121_000, value: 70 },
      { tMs: T0 + FIVE_MINUTES_MS + 5, value: 10 },
    ]);
    expect(bs).toHaveLength(2);
    expect(bs[0]).toMatchObject({ tStartMs: T0, n: 3, min: 20, max: 70, last: 70, sum: 140 });
    expect(bs[1]).toMatchObject({ tStartMs: T0 + FIVE_MINUTES_MS, n: 1, min: 10, last: 10 });
  });

  it('merged 5-minute buckets equal buckets made at the coarser width', () => {
    fc.assert(
      fc.property(pointsArb, (points) => {
        const hourly = bucketize(points, HOUR_MS);
        for (const h of hourly) {
          const parts = bucketize(points, FIVE_MINUTES_MS).filter(
            (b) => b.tStartMs >= h.tStartMs && b.tStartMs < h.tEndMs,
          );
          const m = mergeBuckets(parts);
          expect(m.n).toBe(h.n);
          expect(m.min).toBe(h.min);
          expect(m.max).toBe(h.max);
          expect(m.last).toBe(h.last);
          expect(m.sum).toBe(h.sum);
          // dt sums are relative to the bucket start: shift the hour's to the merged start.
          const shift = (m.tStartMs - h.tStartMs) / 1000;
          expect(m.sumDt).toBeCloseTo(h.sumDt - h.n * shift, 3);
          expect(m.sumDtY).toBeCloseTo(h.sumDtY - shift * h.sum, -2);
        }
      }),
    );
  });

  it('merged into clock hours hold what buckets made an hour wide hold, over whole hours', () => {
    fc.assert(
      fc.property(pointsArb, (points) => {
        // Any order in, oldest first out.
        const hours = mergeIntoHours(bucketize(points).reverse());
        const direct = bucketize(points, HOUR_MS);
        expect(
          hours.map((h) => [h.tStartMs, h.tEndMs - h.tStartMs, h.n, h.min, h.max, h.last]),
        ).toEqual(direct.map((h) => [h.tStartMs, HOUR_MS, h.n, h.min, h.max, h.last]));
      }),
    );
  });

  it('give the same least-squares slope as the raw samples', () => {
    fc.assert(
      fc.property(pointsArb, (points) => {
        const times = points.map((p) => p.tMs);
        fc.pre(Math.max(...times) - Math.min(...times) >= 60_000);
        const fromBuckets = leastSquaresSlopePerHour(bucketize(points));
        const raw = rawLeastSquaresPerHour(points);
        expect(Math.abs(fromBuckets - raw)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(raw)));
      }),
    );
  });
});
