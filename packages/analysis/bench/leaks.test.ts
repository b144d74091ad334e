import { describe, expect, it } from 'vitest';
import { parseScenario } from '../sim/scenario.ts';
import { formatResult, runScenario } from './leaks.ts';

describe('bench:leaks', () => {
  it('scores a small mixed fleet better than the least-squares baseline', () => {
    const r = runScenario(
      parseScenario({
        name: 'mini',
        seed: 18,
        start: '2026-11-01T00:00:00Z',
        durationHours: 12,
        sampleIntervalSec: 60,
        hosts: { count: 6 },
        processes: [
          {
            name: 'api',
            exe: '/opt/api/1.2/api',
            baseKb: [200000, 300000],
            pattern: [
              { type: 'sawtooth', amplitudePct: 20, periodMinutes: 2 },
              { type: 'noise', pct: 1, corrMinutes: 5 },
            ],
            leak: [{ type: 'linear', pctPerHour: 2.5 }],
            leakHostShare: 0.5,
            startedHoursBefore: 12,
          },
          {
            name: 'cache',
            baseKb: 500000,
            pattern: [
              { type: 'warmup', plateauPct: 50, minutes: 30 },
              { type: 'noise', pct: 0.5, corrMinutes: 5 },
            ],
            restart: { everyHours: 4 },
          },
        ],
      }),
    );
    expect(r.instances).toBe(12);
    // One false alarm among eight quiet processes is the most a fleet this small may show.
    expect(r.robust.precision).toBeGreaterThanOrEqual(0.8);
    expect(r.robust.precision).toBeGreaterThan(r.baseline.precision);
    expect(r.robust.recall).toBe(1);
    expect(r.robust.f1).toBeGreaterThan(r.baseline.f1);
    expect(r.robust.pivot[0]).toMatchObject({
      group: '/opt/api/1.2/api',
      leakingHosts: 4,
      hosts: 6,
    });
    // The fleet's data starts with the scenario: for its first 6 hours every process is young, and
    // storage serves it 5-minute buckets even in the 12-hour window (hourly buckets would need
    // six hours for a verdict). So both windows confirm the leaks equally early.
    expect(r.robust.detectHours.every((h) => h !== null && h <= 4)).toBe(true);
    expect(r.robustTopWindow?.detectHours).toEqual(r.robust.detectHours);
    expect(formatResult(r)).toMatch(/recall 1\.000/);
  });
});
