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

const RESTART_HOURS = 3;

/** Noise of 1.5 % wandering over 20 minutes, the same on every run (a seeded generator). */
function wanderingNoise(seed: number) {
  let state = seed;
  const uniform = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return (state + 0.5) / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const phi = Math.exp(-STEP_MS / (20 * 60_000));
  let x = 0.015 * normal();
  return () => {
    x = phi * x + 0.015 * Math.sqrt(1 - phi * phi) * normal();
    return x;
  };
}

/**
 * A day of one host: `batch` is restarted every 3 hours and leaks 1.5 %/h in every incarnation;
 * `steady` runs all day and only wanders.
 */
function hostWithRestartedService(endMs: number) {
  const batchNoise = wanderingNoise(9);
  const steadyNoise = wanderingNoise(11);
  const hours = 24;
  return hostSnapshots('restart-1', endMs, hours, (_i, t) => {
    const sinceStart = hours - (endMs - t) / HOUR_MS;
    const k = Math.floor(sinceStart / RESTART_HOURS);
    const age = sinceStart - k * RESTART_HOURS;
    return [
      anonProcess(900 + k, 'batch', 400_000 * (1 + 0.015 * age + batchNoise())),
      anonProcess(800, 'steady', 400_000 * (1 + steadyNoise())),
    ];
  });
}

for (const driver of testDrivers()) {
  describe(`top over a short window, with a service restarted every 3 hours (${driver})`, () => {
    // The same phase against the hour on every run, so buckets cut the incarnations alike.
    const nowMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 20 * 60_000;
    const db = useHostDb(driver, () => hostWithRestartedService(nowMs - 60_000));

    it("pools the service's incarnations of the last day, not only the window's", async () => {
      const services = createQueryServices(db().db, () => nowMs);
      const rows = await services.top({
        windowMs: 6 * HOUR_MS,
        metric: 'anon',
        limit: 10,
        all: true,
      });
      expect(verdictList(rows)).toEqual(['batch LEAK', 'steady no-significant-trend']);
      const batch = rows.find((r) => r.comm === 'batch');
      expect(batch).toMatchObject({ reason: 'every-incarnation-grows', incarnations: 3 });
      // The row shows the pooled growth, not the newest incarnation's want of data: about
      // 1.5 %/h of the service's size, with a confidence and a time to the host's memory.
      expect(batch?.pctPerHour).toBeGreaterThan(0.75);
      expect(batch?.pctPerHour).toBeLessThan(3);
      expect(batch?.slopeKbPerHour).toBeGreaterThan(0);
      expect(batch?.confidence).toBeGreaterThan(0);
      expect(batch?.timeToLimitHours).toBeGreaterThan(0);
      // The 24-hour window holds all nine incarnations itself and reads nothing more. (Its verdict
      // on hourly buckets, three per incarnation, depends on how the hours cut the restarts: a
      // leak with the data ending 0, 10, 20, 30 or 50 minutes before the hour, not 40.)
      const day = await services.top({
        windowMs: 24 * HOUR_MS,
        metric: 'anon',
        limit: 10,
        all: true,
      });
      expect(day.find((r) => r.comm === 'batch')?.incarnations).toBe(9);
    });

    it('stores, for the windows refreshed in one pass, the verdicts live scoring gives', async () => {
      const stored = await expectStoredAsLive(db(), nowMs, [HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS]);
      expect(stored[1]?.find((r) => r.comm === 'batch')?.leak).toBe(true);
    });
  });
}

/**
 * 30 hours of one host: `web` and `webidle` follow a daily load of ±20 % that peaks 8 hours
 * before the end, and are restarted every 4 hours; `web` also leaks 4 %/h in every incarnation.
 * Over the last 8 hours the load falls about as fast as `web` leaks (up to 5 %/h).
 */
function hostWithDailyLoadRestarts(endMs: number) {
  const webNoise = wanderingNoise(21);
  const idleNoise = wanderingNoise(23);
  const hours = 30;
  return hostSnapshots('restart-2', endMs, hours, (_i, t) => {
    const sinceStart = hours - (endMs - t) / HOUR_MS;
    const k = Math.floor(sinceStart / 4);
    const age = sinceStart - k * 4;
    const load = 0.2 * Math.cos((2 * Math.PI * (sinceStart - 22)) / 24);
    return [
      anonProcess(900 + k, 'web', 400_000 * (1 + 0.04 * age + load + webNoise() / 3)),
      anonProcess(700 + k, 'webidle', 400_000 * (1 + load + idleNoise() / 3)),
    ];
  });
}

for (const driver of testDrivers()) {
  describe(`top over 8 hours, with services on a daily load restarted every 4 hours (${driver})`, () => {
    const nowMs = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - 20 * 60_000;
    const db = useHostDb(driver, () => hostWithDailyLoadRestarts(nowMs - 60_000));

    it("flags the leak whose newest incarnation meets the load's downswing, and only it", async () => {
      const services = createQueryServices(db().db, () => nowMs);
      const rows = await services.top({
        windowMs: 8 * HOUR_MS,
        metric: 'anon',
        limit: 10,
        all: true,
      });
      // The window's incarnations pooled on hourly floors with the day's earlier ones on 5-minute
      // floors left `web` unflagged: its newest incarnation, on the downswing, did not grow.
      const web = rows.find((r) => r.comm === 'web');
      expect(web).toMatchObject({ leak: true, reason: 'every-incarnation-grows' });
      expect(web?.pctPerHour).toBeGreaterThan(2);
      expect(web?.pctPerHour).toBeLessThan(6);
      expect(rows.find((r) => r.comm === 'webidle')?.leak).toBe(false);
    });
  });
}
