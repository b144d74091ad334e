import { describe, expect, it } from 'vitest';
import { simulate } from '../sim/single.ts';
import { scoreService } from './service.ts';

describe('scoreService', () => {
  it('flags a service whose every incarnation grows until it is restarted', () => {
    // Restarted every ~2.5 h, each incarnation leaks 3 %/h: the latest is too young to judge.
    const s = simulate(
      [
        { type: 'linear', pctPerHour: 3 },
        { type: 'noise', pct: 1, corrMinutes: 10 },
      ],
      10.2,
      4,
      { restart: { everyHours: 2.5, jitter: 0 }, startedHoursBefore: 0 },
    );
    expect(s.incarnations.length).toBeGreaterThanOrEqual(4);
    const v = scoreService(s.incarnations, s);
    expect(v.leak).toBe(true);
    expect(v.judgedIncarnations).toBeGreaterThanOrEqual(3);
    expect(v.pooled?.pValue).toBeLessThan(0.01);
    expect(v.pooled?.pctPerHour).toBeGreaterThan(1);
    // A restart's drop must not count against the growth: each incarnation starts low again.
    expect(v.incarnations.every((i) => i.slopeKbPerHour > 0)).toBe(true);
  });

  it('does not flag a service that warms up after each restart and then holds', () => {
    for (const seed of [1, 2, 3]) {
      const s = simulate(
        [
          { type: 'warmup', plateauPct: 40, minutes: 20 },
          { type: 'noise', pct: 0.5, corrMinutes: 10 },
        ],
        24,
        seed,
        { restart: { everyHours: 4 }, startedHoursBefore: 0 },
      );
      const v = scoreService(s.incarnations, s);
      expect(v.leak).toBe(false);
    }
  });

  it('does not flag a service whose every incarnation creeps by a percent or two', () => {
    // 0.35 %/h over incarnations of about 4 hours: 1.4 % each, the tail of a warm-up.
    for (const seed of [1, 2, 3]) {
      const s = simulate(
        [
          { type: 'linear', pctPerHour: 0.35 },
          { type: 'noise', pct: 0.1, corrMinutes: 5 },
        ],
        24,
        seed,
        { restart: { everyHours: 4, jitter: 0 }, startedHoursBefore: 0 },
      );
      const v = scoreService(s.incarnations, s);
      expect(v.pooled?.pValue).toBeLessThan(0.01);
      expect(v.leak).toBe(false);
    }
  });

  it('does not flag a flat service that is restarted often', () => {
    const s = simulate([{ type: 'noise', pct: 1, corrMinutes: 10 }], 24, 7, {
      restart: { everyHours: 3 },
    });
    expect(scoreService(s.incarnations, s)).toMatchObject({ leak: false, reason: 'not-leaking' });
  });

  it('says when nothing could be judged', () => {
    const s = simulate([{ type: 'noise', pct: 1 }], 0.5, 7);
    expect(scoreService(s.incarnations, s)).toMatchObject({
      leak: false,
      reason: 'too-little-data',
    });
  });
});
