import { describe, expect, it } from 'vitest';
import { historyOf } from '../sim/buckets-from-samples.ts';
import { buildFleet } from '../sim/fleet.ts';
import { parseScenario } from '../sim/scenario.ts';
import { detectorFigures, formatResult, runScenario } from './leaks.ts';

const HOUR = 3_600_000;

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
    // The fleet's data starts with the scenario: for its first 12 hours every service is young, and
    // storage serves it 5-minute buckets even in the 12-hour window (hourly buckets would need
    // six hours for a verdict). So both windows confirm the leaks equally early.
    expect(r.robust.detectHours.every((h) => h !== null && h <= 4)).toBe(true);
    expect(r.robustTopWindow?.detectHours).toEqual(r.robust.detectHours);
    expect(formatResult(r)).toMatch(/recall 1\.000/);
    // Wrong final verdicts are told by kind of process: here only the restarted cache can be one.
    const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    expect(sum(r.robust.falseAlarmsBy)).toBe(r.robust.fp);
    expect(sum(r.robust.missedBy)).toBe(r.robust.fn);
    expect([...r.baseline.falseAlarmsBy.keys()]).toEqual(['cache']);
    expect(r.baseline.falseAlarmsBy.get('cache')).toBe(r.baseline.fp);
  });

  it('counts flapping verdicts and the false alarms left once a day of history exists', () => {
    // 30 hours, evaluated every 15 minutes: 120 verdicts per process, 119 changes between them.
    const fleet = buildFleet(
      parseScenario({
        name: 'flapping',
        seed: 3,
        start: '2026-11-01T00:00:00Z',
        durationHours: 30,
        sampleIntervalSec: 300,
        hosts: { count: 1 },
        processes: [
          {
            name: 'leaky',
            baseKb: 100_000,
            pattern: [],
            leak: [{ type: 'linear', pctPerHour: 2 }],
          },
          { name: 'quiet', baseKb: 100_000, pattern: [{ type: 'flat' }] },
          {
            name: 'restarted',
            baseKb: 100_000,
            pattern: [],
            leak: [{ type: 'linear', pctPerHour: 2 }],
            restart: { everyHours: 10, jitter: 0 },
          },
        ],
      }),
    );
    const histories = fleet.instances.map((inst) => historyOf(fleet, inst));
    const hour = (t: number) => (t - fleet.startMs) / HOUR;
    // The leaking process is flagged from hour 2, dropped over hours 5–6, flagged again; the
    // restarted one is flagged in hours 8–10 of each incarnation, so its verdict falls at each
    // restart; the quiet one is falsely flagged in hours 3–4 and again in hours 26–28.
    const judge = (h: (typeof histories)[number], _from: number, to: number) => {
      const t = hour(to);
      const name = h.instance.name;
      const leak =
        name === 'leaky'
          ? t >= 2 && !(t > 5 && t <= 6)
          : name === 'restarted'
            ? t % 10 > 8 || (t >= 10 && t % 10 === 0)
            : (t > 3 && t <= 4) || (t > 26 && t <= 28);
      return { leak, slopeKbPerHour: 0, pctPerHour: 0 };
    };
    const d = detectorFigures(fleet, histories, judge, 6 * HOUR);
    expect(d.leakDropsPerDay).toBeCloseTo((1 / (2 * 119)) * 96, 6);
    expect(d.falseAlarmEpisodesPerDay).toBeCloseTo((2 / 120) * 96, 6);
    expect(d.falseAlarmTimeShare).toBeCloseTo(12 / 120, 6);
    // After hour 24: 24 evaluations (24.25 h … 30 h), 8 of them inside the second false alarm.
    expect(d.falseAlarmTimeShareAfterDay1).toBeCloseTo(8 / 24, 6);

    // A detector that flags nothing misses both leaks; each is told with what its leak added
    // inside the final window, from its first sample there to its last (2 %/h, a sample every
    // 5 minutes). The restarted one's 12-hour window spans its restart at hour 20: its two
    // incarnations add 1 h 55 min and 9 h 55 min of growth.
    const blind = () => ({ leak: false, slopeKbPerHour: 0, pctPerHour: 0 });
    const pct = (hours: number) => 2 * (hours - 5 / 60);
    const six = detectorFigures(fleet, histories, blind, 6 * HOUR);
    expect(six.missedLeakGrowthPct).toHaveLength(six.fn);
    expect(six.missedLeakGrowthPct[0]).toBeCloseTo(pct(6), 6);
    expect(six.missedLeakGrowthPct[1]).toBeCloseTo(pct(6), 6);
    const twelve = detectorFigures(fleet, histories, blind, 12 * HOUR);
    expect(twelve.missedLeakGrowthPct[0]).toBeCloseTo(pct(12), 6);
    expect(twelve.missedLeakGrowthPct[1]).toBeCloseTo(pct(2) + pct(10), 6);
  });
});
