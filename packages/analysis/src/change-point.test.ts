import { describe, expect, it } from 'vitest';
import { simulate } from '../sim/single.ts';
import { growthOnset } from './change-point.ts';
import { floorPoints, scoreIncarnation } from './score.ts';

const T0 = Date.UTC(2026, 10, 23);
const HOUR = 3_600_000;

/** Floors every 40 minutes over 24 hours: `level(x)` plus a fixed wobble of ±0.3 %. */
function floors(level: (hours: number) => number) {
  const xs = Array.from({ length: 36 }, (_, i) => (i + 0.5) * (2 / 3));
  const ys = xs.map((x, i) => level(x) * (1 + 0.003 * Math.sin(i * 2.1)));
  return { xs, ys };
}

describe('growthOnset', () => {
  it('finds where a level series starts to ramp, within a floor', () => {
    const { xs, ys } = floors((x) => (x < 15 ? 500_000 : 500_000 + 10_000 * (x - 15)));
    const onset = growthOnset(xs, ys, T0);
    expect(onset).not.toBeNull();
    expect(Math.abs((onset?.atMs ?? 0) - (T0 + 15 * HOUR))).toBeLessThanOrEqual(40 * 60_000);
    expect(onset?.slopeAfterKbPerHour).toBeGreaterThan(9_000);
    expect(Math.abs(onset?.slopeBeforeKbPerHour ?? Number.NaN)).toBeLessThan(500);
  });

  it('puts a step between the last floor before it and the first after', () => {
    const { xs, ys } = floors((x) => (x < 10.1 ? 500_000 : x < 18 ? 540_000 : 580_000));
    const onset = growthOnset(xs, ys, T0);
    expect(onset).not.toBeNull();
    const at = ((onset?.atMs ?? 0) - T0) / HOUR;
    expect(at).toBeGreaterThanOrEqual(10 - 2 / 3);
    expect(at).toBeLessThanOrEqual(10.1 + 2 / 3);
  });

  it('gives no onset to growth that ran through the whole window, nor to a level series', () => {
    const line = floors((x) => 500_000 + 5_000 * x);
    expect(growthOnset(line.xs, line.ys, T0)).toBeNull();
    const level = floors(() => 500_000);
    expect(growthOnset(level.xs, level.ys, T0)).toBeNull();
    // Too few floors to tell two lines from one.
    const short = floors((x) => (x < 2 ? 500_000 : 500_000 + 10_000 * (x - 2)));
    expect(growthOnset(short.xs.slice(0, 6), short.ys.slice(0, 6), T0)).toBeNull();
  });

  it('flags and dates simulated leaks that began 12 h into a noisy, saw-toothing process', () => {
    let flagged = 0;
    let flaggedWithout = 0;
    let dated = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const sim = simulate(
        [
          { type: 'noise', pct: 0.5, corrMinutes: 20 },
          { type: 'sawtooth', amplitudePct: 10, periodMinutes: 30 },
          { type: 'linear', pctPerHour: 3, afterHours: 12 },
        ],
        18,
        seed,
        { startedHoursBefore: 0 },
      );
      const input = sim.incarnations[0] as (typeof sim.incarnations)[number];
      const window = { windowStartMs: sim.windowStartMs, windowEndMs: sim.windowEndMs };
      // The whole 18 hours' trend test reads the level part and the bend as persistence.
      if (scoreIncarnation(input, { ...window, judgeSinceOnset: false }).leak) flaggedWithout++;
      const score = scoreIncarnation(input, window);
      if (!score.leak) continue;
      flagged++;
      // Time to limit runs at the rate since the onset (3 %/h of 500 MB), not the diluted one.
      expect(score.timeToLimitHours).toBeLessThan((8 * 1024 * 1024) / 12_000);
      const f = floorPoints(input, window);
      const onset = f && growthOnset(f.xs, f.ys, f.firstMs);
      if (onset && Math.abs(onset.atMs - (sim.windowStartMs + 12 * HOUR)) <= 45 * 60_000) dated++;
    }
    expect(flaggedWithout).toBe(0);
    expect(flagged).toBeGreaterThanOrEqual(8);
    expect(dated).toBeGreaterThanOrEqual(7);
  });
});
