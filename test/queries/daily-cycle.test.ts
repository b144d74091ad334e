import { randomUUID } from 'node:crypto';
import { createQueryServices, refreshVerdicts } from '@fleetpmap/api';
import {
  createTestDb,
  ingestSnapshot,
  rollupAggregates,
  schema,
  type TestDb,
  testDrivers,
} from '@fleetpmap/db';
import { exampleProcess, exampleSnapshot } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR_MS } from './fleet-history.ts';

const STEP_MS = 5 * 60_000;
const DAY_MS = 24 * HOUR_MS;

/**
 * 36 hours of one host: `webd` follows a daily cycle (±15 %) whose last 12 hours are its rising
 * half; `leakd` rides the same cycle on its falling half while leaking 1 %/h.
 */
function dailyHost(endMs: number) {
  const base = exampleSnapshot();
  const steps = (36 * HOUR_MS) / STEP_MS;
  const wobble = (i: number) => 0.005 * Math.sin(i * 1.7) * Math.cos(i * 0.31);
  return Array.from({ length: steps }, (_, i) => {
    const t = endMs - (steps - 1 - i) * STEP_MS;
    const hoursToEnd = (endMs - t) / HOUR_MS;
    // Rising over the last 12 hours: a trough 12 h before the end, the peak at the end.
    const rising = 1 + 0.15 * Math.sin(((-hoursToEnd + 6) * 2 * Math.PI) / 24);
    const falling = 1 + 0.15 * Math.sin(((-hoursToEnd - 6) * 2 * Math.PI) / 24);
    const hoursIn = (i * STEP_MS) / HOUR_MS;
    const proc = (pid: number, exe: string, anonKb: number) =>
      exampleProcess({
        pid,
        startTicks: 100 * pid,
        comm: exe,
        cmdline: `/usr/bin/${exe}`,
        exe: `/usr/bin/${exe}`,
        status: {
          ...exampleProcess().status,
          rssAnonKb: Math.round(anonKb),
          vmRssKb: Math.round(anonKb),
        },
      });
    return {
      ...base,
      snapshotId: randomUUID(),
      takenAtMs: t,
      host: { ...base.host, name: 'daily-1' },
      processes: [
        proc(700, 'webd', 400_000 * (rising + wobble(i))),
        proc(701, 'leakd', 400_000 * (falling + wobble(i + 99) + 0.01 * hoursIn)),
      ],
    };
  });
}

for (const driver of testDrivers()) {
  describe(`top over windows under a day, with the day before stored (${driver})`, () => {
    let t: TestDb;
    const nowMs = Date.now();
    const endMs = nowMs - 60_000;
    beforeAll(async () => {
      t = await createTestDb(driver);
      for (const s of dailyHost(endMs)) await ingestSnapshot(t.db, s);
      await rollupAggregates(t.db, { settleMs: 0 });
    }, 300_000);
    afterAll(async () => {
      await t?.[Symbol.asyncDispose]();
    });

    it("tells a daily cycle's ramp from a leak on the cycle's downswing", async () => {
      const services = createQueryServices(t.db, () => nowMs);
      const top = (windowMs: number) =>
        services.top({ windowMs, metric: 'anon', limit: 10, all: true });
      const halfDay = await top(12 * HOUR_MS);
      expect(halfDay.map((r) => `${r.comm} ${r.leak ? 'LEAK' : r.reason}`).sort()).toEqual([
        'leakd LEAK',
        'webd daily-cycle',
      ]);
      // Over a whole day the cycle is seen to come back without the day before.
      const day = await top(DAY_MS + HOUR_MS);
      expect(day.find((r) => r.comm === 'webd')?.leak).toBe(false);
    });

    it('stores, for the windows under a day refreshed in one pass, the verdicts live scoring gives', async () => {
      const services = createQueryServices(t.db, () => nowMs);
      const windows = [6 * HOUR_MS, 12 * HOUR_MS];
      const top = () =>
        Promise.all(
          windows.map((windowMs) =>
            services.top({ windowMs, metric: 'anon', limit: 10, all: true }),
          ),
        );
      const live = await top();
      expect(live[1]?.map((r) => `${r.comm} ${r.leak ? 'LEAK' : r.reason}`).sort()).toEqual([
        'leakd LEAK',
        'webd daily-cycle',
      ]);
      const done = await refreshVerdicts(
        t.db,
        { windowsMs: windows, metrics: ['anon'] },
        { nowMs },
      );
      expect(done.map((d) => d.windowMs)).toEqual(windows);
      expect(await top()).toEqual(live);
      await t.db.delete(schema.verdictRuns);
    });
  });
}
