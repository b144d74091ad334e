import { describe, expect, it } from 'vitest';
import { Rng } from '../sim/rng.ts';
import { mannKendall, rank } from './mann-kendall.ts';

const xsOf = (n: number) => Array.from({ length: n }, (_, i) => i);

function ar1(rng: Rng, n: number, phi: number): number[] {
  const out: number[] = [];
  let e = rng.normal();
  for (let i = 0; i < n; i++) {
    e = phi * e + Math.sqrt(1 - phi * phi) * rng.normal();
    out.push(e);
  }
  return out;
}

function falsePositiveRate(phi: number, n: number, autocorrelation: boolean, runs = 1500): number {
  let hits = 0;
  for (let seed = 0; seed < runs; seed++) {
    const ys = ar1(new Rng(`mk:${phi}:${n}:${seed}`), n, phi);
    if (mannKendall(xsOf(n), ys, { autocorrelation }).pIncreasing < 0.05) hits++;
  }
  return hits / runs;
}

describe('mannKendall', () => {
  it('counts concordant minus discordant pairs, ties as zero', () => {
    expect(mannKendall([0, 1, 2, 3], [1, 2, 3, 4], { autocorrelation: false }).s).toBe(6);
    expect(mannKendall([0, 1, 2, 3], [4, 3, 2, 1], { autocorrelation: false }).s).toBe(-6);
    const tied = mannKendall([0, 1, 2, 3], [1, 1, 2, 2], { autocorrelation: false });
    expect(tied.s).toBe(4);
    // n=4: 4·3·13/18 minus two tie groups of 2: 2·(2·1·9/18).
    expect(tied.varS).toBeCloseTo((4 * 3 * 13) / 18 - 2, 9);
  });

  it('finds a clear monotone trend significant', () => {
    const rng = new Rng('trend');
    const ys = xsOf(24).map((x) => x + 2 * rng.normal());
    const t = mannKendall(xsOf(24), ys);
    expect(t.pIncreasing).toBeLessThan(1e-4);
    expect(t.pTwoSided).toBeLessThan(2e-4);
  });

  it('keeps white noise without trend near the stated 5 % rate', () => {
    const rate = falsePositiveRate(0, 36, true);
    expect(rate).toBeLessThan(0.065);
    expect(rate).toBeGreaterThan(0.02);
  });

  it('keeps autocorrelated noise near the stated rate, where the plain test fails', () => {
    // The plain test reads AR(1) wander with φ = 0.5 as a trend three times too often.
    expect(falsePositiveRate(0.5, 36, false)).toBeGreaterThan(0.12);
    expect(falsePositiveRate(0.5, 36, true)).toBeLessThan(0.075);
    expect(falsePositiveRate(0.8, 36, true)).toBeLessThan(falsePositiveRate(0.8, 36, false) / 2);
  });

  it('ranks ties by their average rank', () => {
    expect(rank([10, 20, 20, 5])).toEqual([2, 3.5, 3.5, 1]);
  });
});
