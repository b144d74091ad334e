import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { repeatedMedianSlope, theilSen } from './theil-sen.ts';

const xsOf = (n: number) => Array.from({ length: n }, (_, i) => i * 0.25);

describe('theilSen', () => {
  it('recovers the slope and intercept of an exact line', () => {
    const xs = xsOf(20);
    const line = theilSen(
      xs,
      xs.map((x) => 1000 + 37.5 * x),
    );
    expect(line.slope).toBeCloseTo(37.5, 9);
    expect(line.intercept).toBeCloseTo(1000, 9);
  });

  it('ignores a fifth of the points set to arbitrary values', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 40 }),
        fc.double({ min: -1e4, max: 1e4, noNaN: true }),
        fc.array(fc.double({ min: -1e9, max: 1e9, noNaN: true }), { minLength: 10, maxLength: 40 }),
        fc.integer({ min: 0, max: 1000 }),
        (n, slope, junk, shift) => {
          const xs = xsOf(n);
          const ys = xs.map((x) => 5e5 + slope * x);
          const bad = Math.floor(n / 5);
          for (let k = 0; k < bad; k++) ys[(shift + k * 7) % n] = junk[k % junk.length] as number;
          // Pairs of clean points are more than half of all pairs, so the median is exact.
          expect(theilSen(xs, ys).slope).toBeCloseTo(slope, 6);
        },
      ),
    );
  });

  it('is unchanged by adding a constant and scales with the data', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 3, maxLength: 30 }),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: 0.001, max: 1000, noNaN: true }),
        (ys, c, k) => {
          const xs = xsOf(ys.length);
          const base = theilSen(xs, ys).slope;
          expect(
            theilSen(
              xs,
              ys.map((y) => y + c),
            ).slope,
          ).toBeCloseTo(base, 3);
          expect(
            theilSen(
              xs,
              ys.map((y) => y * k),
            ).slope / k,
          ).toBeCloseTo(base, 3);
        },
      ),
    );
  });

  it('is NaN without two distinct x values', () => {
    expect(theilSen([1, 1, 1], [1, 2, 3]).slope).toBeNaN();
    expect(theilSen([], []).slope).toBeNaN();
  });
});

describe('repeatedMedianSlope', () => {
  it('survives 40 % of the points replaced by junk', () => {
    const xs = xsOf(30);
    const ys = xs.map((x) => 100 + 10 * x);
    for (let i = 0; i < 12; i++) ys[(i * 5) % 30] = i % 2 === 0 ? 1e7 : -1e7 * (i + 1);
    expect(repeatedMedianSlope(xs, ys)).toBeCloseTo(10, 6);
  });
});
