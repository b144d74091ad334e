import { describe, expect, it } from 'vitest';
import { mannKendall } from './mann-kendall.ts';
import { exactUpperTail, inversionDistribution } from './mann-kendall-exact.ts';

/** S of every ordering of 0…n−1, by enumeration. */
function allS(n: number): number[] {
  const out: number[] = [];
  const perm = Array.from({ length: n }, (_, i) => i);
  const visit = (k: number) => {
    if (k === n) {
      let s = 0;
      for (let i = 0; i < n; i++)
        for (let j = i + 1; j < n; j++) s += Math.sign((perm[j] as number) - (perm[i] as number));
      out.push(s);
      return;
    }
    for (let i = k; i < n; i++) {
      [perm[k], perm[i]] = [perm[i] as number, perm[k] as number];
      visit(k + 1);
      [perm[k], perm[i]] = [perm[i] as number, perm[k] as number];
    }
  };
  visit(0);
  return out;
}

describe('exact Mann–Kendall tail', () => {
  it('matches the enumeration of every ordering', () => {
    for (const n of [3, 4, 5, 6]) {
      const all = allS(n);
      for (const s of new Set(all)) {
        const share = all.filter((v) => v >= s).length / all.length;
        expect(exactUpperTail(n, s)).toBeCloseTo(share, 12);
      }
      expect(inversionDistribution(n).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    }
  });

  it('judges a statistic between two attainable values at the next attainable one', () => {
    expect(exactUpperTail(5, 9)).toBeCloseTo(exactUpperTail(5, 10), 12);
    expect(exactUpperTail(5, 10)).toBeCloseTo(1 / 120, 12);
  });

  it('lets five strictly rising floors be significant at 1 %, which the normal tail never allows', () => {
    const t = mannKendall([0, 1, 2, 3, 4], [10, 11, 13, 14, 16]);
    expect(t.exact).toBe(true);
    expect(t.pIncreasing).toBeCloseTo(1 / 120, 9);
    expect(t.pIncreasing).toBeLessThan(0.01);
    // The normal approximation's verdict on the same series: z = 9 / √(50/3).
    expect(t.z).toBeCloseTo(9 / Math.sqrt(50 / 3), 9);
  });

  it('falls back to the normal approximation with ties or many points', () => {
    expect(mannKendall([0, 1, 2, 3, 4], [1, 1, 2, 3, 4]).exact).toBe(false);
    const xs = Array.from({ length: 20 }, (_, i) => i);
    expect(mannKendall(xs, xs).exact).toBe(false);
  });
});
