import { bucketize, FIVE_MINUTES_MS, scoreService } from '@fleetpmap/analysis';
import { describe, expect, it } from 'vitest';
import { limitKbOf } from './score-window.ts';

const HOUR = 3_600_000;

describe('limitKbOf', () => {
  it('takes the cgroup limit when it is below MemTotal, MemTotal otherwise', () => {
    expect(limitKbOf(16_000_000, 1_048_576)).toBe(1_048_576);
    expect(limitKbOf(16_000_000, null)).toBe(16_000_000);
    expect(limitKbOf(16_000_000, undefined)).toBe(16_000_000);
    // A cgroup allowed more than the host has: the host runs out first.
    expect(limitKbOf(16_000_000, 64_000_000)).toBe(16_000_000);
    // A host that reported no MemTotal: the cgroup limit alone, or nothing.
    expect(limitKbOf(0, 1_048_576)).toBe(1_048_576);
    expect(limitKbOf(undefined, null)).toBeNull();
  });

  it('gives a process in a 1 GiB cgroup the time to its cgroup limit, far shorter than to MemTotal', () => {
    // 200 MB growing 10 MB an hour, sampled every 5 minutes for 6 hours.
    const points = Array.from({ length: 72 }, (_, i) => ({
      tMs: i * FIVE_MINUTES_MS,
      value: 200_000 + (10_000 * i * FIVE_MINUTES_MS) / HOUR + (i % 2) * 50,
    }));
    const buckets = bucketize(points, FIVE_MINUTES_MS);
    const window = { windowStartMs: 0, windowEndMs: 6 * HOUR };
    const score = (limitKb: number | null) => {
      const s = scoreService([{ buckets, limitKb }], window).latest;
      if (!s) throw new Error('no score');
      return s;
    };
    const host = score(limitKbOf(16_000_000, null));
    const cgroup = score(limitKbOf(16_000_000, 1_048_576));
    expect(cgroup.leak).toBe(true);
    expect(cgroup.limitKb).toBe(1_048_576);
    expect(host.limitKb).toBe(16_000_000);
    expect(cgroup.timeToLimitHours).toBeCloseTo((1_048_576 - cgroup.currentKb) / 10_000, 0);
    expect((host.timeToLimitHours as number) / (cgroup.timeToLimitHours as number)).toBeCloseTo(
      (16_000_000 - host.currentKb) / (1_048_576 - cgroup.currentKb),
      6,
    );
  });
});
