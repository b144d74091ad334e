import { createQueryServices } from '@fleetpmap/api';
import { testDrivers } from '@fleetpmap/db';
import { describe, expect, it } from 'vitest';
import { HOUR_MS } from './fleet-history.ts';
import {
  anonProcess,
  expectStoredAsLive,
  hostSnapshots,
  useHostDb,
  verdictList,
} from './one-host.ts';

const DAY_MS = 24 * HOUR_MS;
const YOUNG_HOURS = 2.5;

/**
 * A day of one host: `steady` ran all day; `newleak` and `newcache` started 2.5 hours before the
 * end. `newleak` grows 5 %/h from its start, `newcache` fills a cache in 40 minutes and holds it.
 */
function hostWithNewProcesses(endMs: number) {
  const wobble = (i: number) => 0.004 * Math.sin(i * 1.7) * Math.cos(i * 0.31);
  return hostSnapshots('young-1', endMs, 24, (i, t) => {
    const age = YOUNG_HOURS - (endMs - t) / HOUR_MS;
    const processes = [anonProcess(800, 'steady', 300_000 * (1 + wobble(i)))];
    if (age >= 0) {
      processes.push(
        anonProcess(801, 'newleak', 200_000 * (1 + 0.05 * age + wobble(i + 7))),
        anonProcess(
          802,
          'newcache',
          200_000 * (1 + 0.3 * Math.min(1, age / 0.67) + wobble(i + 13)),
        ),
      );
    }
    return processes;
  });
}

for (const driver of testDrivers()) {
  describe(`top over windows longer than six hours, with a process started 2.5 hours ago (${driver})`, () => {
    const nowMs = Date.now();
    const db = useHostDb(driver, () => hostWithNewProcesses(nowMs - 60_000));

    it('judges the new process on what it has shown, as the 6-hour window does', async () => {
      const services = createQueryServices(db().db, () => nowMs);
      const top = (windowMs: number) =>
        services.top({ windowMs, metric: 'anon', limit: 10, all: true });
      const six = await top(6 * HOUR_MS);
      expect(verdictList(six)).toEqual([
        'newcache no-significant-trend',
        'newleak LEAK',
        'steady no-significant-trend',
      ]);
      for (const windowMs of [24 * HOUR_MS, 7 * DAY_MS]) {
        const long = await top(windowMs);
        expect(verdictList(long)).toEqual(verdictList(six));
        const leak = long.find((r) => r.comm === 'newleak');
        // Judged on the same 5-minute buckets, not on two hourly ones.
        expect(leak?.slopeKbPerHour).toBe(six.find((r) => r.comm === 'newleak')?.slopeKbPerHour);
        expect(leak?.pctPerHour).toBeGreaterThan(3);
      }
    });

    it('stores, for the windows refreshed in one pass, the verdicts live scoring gives', async () => {
      const stored = await expectStoredAsLive(db(), nowMs, [6 * HOUR_MS, 24 * HOUR_MS, 7 * DAY_MS]);
      expect(stored[1]?.find((r) => r.comm === 'newleak')?.leak).toBe(true);
    });
  });
}
