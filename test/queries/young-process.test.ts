import { createQueryServices } from '@fleetpmap/api';
import { testDrivers } from '@fleetpmap/db';
import { exampleSnapshot } from '@fleetpmap/protocol';
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

/**
 * Six hours of one host: `steady` ran all along, `fresh` started 15 minutes before the end, so
 * all it has shown lies in its startup grace.
 */
function hostWithFreshProcess(endMs: number) {
  const boot = exampleSnapshot().host.bootTimeMs ?? 0;
  const startMs = endMs - 15 * 60_000;
  return hostSnapshots('young-2', endMs, 6, (i, t) => [
    anonProcess(800, 'steady', 300_000 * (1 + 0.003 * Math.sin(i))),
    ...(t >= startMs
      ? [{ ...anonProcess(901, 'fresh', 150_000 + 100 * i), startTicks: (startMs - boot) / 10 }]
      : []),
  ]);
}

for (const driver of testDrivers()) {
  describe(`top with a process in its startup grace (${driver})`, () => {
    const nowMs = Math.floor(Date.now() / 60_000) * 60_000;
    const db = useHostDb(driver, () => hostWithFreshProcess(nowMs - 60_000));

    it('lists it as starting up, with its size, and never as a leak', async () => {
      const services = createQueryServices(db().db, () => nowMs);
      for (const windowMs of [HOUR_MS, 6 * HOUR_MS, DAY_MS]) {
        const rows = await services.top({ windowMs, metric: 'anon', limit: 10, all: true });
        expect(verdictList(rows)).toEqual(['fresh starting-up', 'steady no-significant-trend']);
        const fresh = rows.find((r) => r.comm === 'fresh');
        expect(fresh).toMatchObject({
          pid: 901,
          leak: false,
          confidence: 0,
          timeToLimitHours: null,
        });
        expect(fresh?.currentKb).toBeGreaterThan(150_000);
        expect(fresh?.startedAtMs).toBe(nowMs - 60_000 - 15 * 60_000);
        const leaks = await services.top({ windowMs, metric: 'anon', limit: 10, all: false });
        expect(leaks).toEqual([]);
      }
      const pivot = await services.pivot({
        windowMs: 6 * HOUR_MS,
        metric: 'anon',
        groupBy: 'exe',
        limit: 10,
      });
      expect(pivot.find((g) => g.group === '/usr/bin/fresh')).toMatchObject({
        hosts: 1,
        processes: 1,
        leakingProcesses: 0,
      });
      await expectStoredAsLive(db(), nowMs, [HOUR_MS, 6 * HOUR_MS, DAY_MS]);
    });
  });
}

const RESTART_EVERY_HOURS = 3.5;

/**
 * Seven hours of one host whose agent started then: `steady` ran all along; `restarting` and
 * `restarting-cache` are restarted every three and a half hours. Every incarnation of
 * `restarting` grows 4 %/h until its restart; `restarting-cache` fills a cache in 40 minutes and
 * holds it.
 */
function hostWithRestartedServices(endMs: number) {
  const boot = exampleSnapshot().host.bootTimeMs ?? 0;
  const firstMs = endMs - 7 * HOUR_MS + STEP_MS;
  const wobble = (i: number) => 0.004 * Math.sin(i * 1.7) * Math.cos(i * 0.31);
  return hostSnapshots('young-3', endMs, 7, (i, t) => {
    const k = Math.floor((t - firstMs) / (RESTART_EVERY_HOURS * HOUR_MS));
    const startMs = firstMs + k * RESTART_EVERY_HOURS * HOUR_MS;
    const age = (t - startMs) / HOUR_MS;
    const incarnation = (pid: number, exe: string, kb: number) => ({
      ...anonProcess(pid, exe, kb),
      startTicks: (startMs - boot) / 10,
    });
    return [
      anonProcess(800, 'steady', 300_000 * (1 + wobble(i))),
      incarnation(900 + k, 'restarting', 200_000 * (1 + 0.04 * age + wobble(i + 7))),
      incarnation(
        950 + k,
        'restarting-cache',
        200_000 * (1 + 0.3 * Math.min(1, age / 0.67) + wobble(i + 13)),
      ),
    ];
  });
}

for (const driver of testDrivers()) {
  describe(`top over windows longer than six hours, with services first seen 7 hours ago and restarted every 3.5 (${driver})`, () => {
    const nowMs = Math.floor(Date.now() / 60_000) * 60_000;
    const db = useHostDb(driver, () => hostWithRestartedServices(nowMs - 60_000));

    it('judges them on 5-minute buckets, so a service whose every incarnation grows is a leak', async () => {
      const services = createQueryServices(db().db, () => nowMs);
      const top = (windowMs: number) =>
        services.top({ windowMs, metric: 'anon', limit: 10, all: true });
      for (const windowMs of [6 * HOUR_MS, 24 * HOUR_MS, 7 * DAY_MS]) {
        const rows = await top(windowMs);
        // Hourly buckets would give each incarnation three floors: too few for any verdict (the
        // service was `too-little-data` in the longer windows, its leak unflagged until it had
        // six hours in one incarnation).
        expect(verdictList(rows)).toEqual([
          'restarting LEAK',
          'restarting-cache no-significant-trend',
          'steady no-significant-trend',
        ]);
        const leak = rows.find((r) => r.comm === 'restarting');
        expect(leak).toMatchObject({ pid: 901, incarnations: 2 });
        expect(leak?.pctPerHour).toBeGreaterThan(2.5);
      }
      await expectStoredAsLive(db(), nowMs, [6 * HOUR_MS, 24 * HOUR_MS, 7 * DAY_MS]);
    });
  });
}
