import { createQueryServices } from '@fleetpmap/api';
import { testDrivers } from '@fleetpmap/db';
import { describe, expect, it } from 'vitest';
import { HOUR_MS } from './fleet-history.ts';
import {
  anonProcess,
  expectStoredAsLive,
  hostSnapshots,
  STEP_MS,
  useHostDb,
  verdictList,
} from './one-host.ts';

const DAY_MS = 24 * HOUR_MS;

/**
 * 36 hours of one host: `webd` follows a daily cycle (±15 %) whose last 12 hours are its rising
 * half; `leakd` rides the same cycle on its falling half while leaking 1 %/h.
 */
function dailyHost(endMs: number) {
  const wobble = (i: number) => 0.005 * Math.sin(i * 1.7) * Math.cos(i * 0.31);
  return hostSnapshots('daily-1', endMs, 36, (i, t) => {
    const hoursToEnd = (endMs - t) / HOUR_MS;
    // Rising over the last 12 hours: a trough 12 h before the end, the peak at the end.
    const rising = 1 + 0.15 * Math.sin(((-hoursToEnd + 6) * 2 * Math.PI) / 24);
    const falling = 1 + 0.15 * Math.sin(((-hoursToEnd - 6) * 2 * Math.PI) / 24);
    const hoursIn = (i * STEP_MS) / HOUR_MS;
    return [
      anonProcess(700, 'webd', 400_000 * (rising + wobble(i))),
      anonProcess(701, 'leakd', 400_000 * (falling + wobble(i + 99) + 0.01 * hoursIn)),
    ];
  });
}

for (const driver of testDrivers()) {
  describe(`top over windows under a day, with the day before stored (${driver})`, () => {
    const nowMs = Date.now();
    const db = useHostDb(driver, () => dailyHost(nowMs - 60_000));

    it("tells a daily cycle's ramp from a leak on the cycle's downswing", async () => {
      const services = createQueryServices(db().db, () => nowMs);
      const top = (windowMs: number) =>
        services.top({ windowMs, metric: 'anon', limit: 10, all: true });
      const halfDay = await top(12 * HOUR_MS);
      expect(verdictList(halfDay)).toEqual(['leakd LEAK', 'webd daily-cycle']);
      // Over a whole day the cycle is seen to come back without the day before.
      const day = await top(DAY_MS + HOUR_MS);
      expect(day.find((r) => r.comm === 'webd')?.leak).toBe(false);
    });

    it('stores, for the windows under a day refreshed in one pass, the verdicts live scoring gives', async () => {
      const stored = await expectStoredAsLive(db(), nowMs, [6 * HOUR_MS, 12 * HOUR_MS]);
      expect(verdictList(stored[1] ?? [])).toEqual(['leakd LEAK', 'webd daily-cycle']);
    });
  });
}
