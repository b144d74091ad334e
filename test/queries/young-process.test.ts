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
const YOUNG_HOURS = 2.5;

/**
 * A day of one host: `steady` ran all day; `newleak` and `newcache` started 2.5 hours before the
 * end. `newleak` grows 5 %/h from its start, `newcache` fills a cache in 40 minutes and holds it.
 */
function hostWithNewProcesses(endMs: number) {
  const base = exampleSnapshot();
  const steps = DAY_MS / STEP_MS;
  const wobble = (i: number) => 0.004 * Math.sin(i * 1.7) * Math.cos(i * 0.31);
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
  return Array.from({ length: steps }, (_, i) => {
    const t = endMs - (steps - 1 - i) * STEP_MS;
    const age = YOUNG_HOURS - (endMs - t) / HOUR_MS;
    const processes = [proc(800, 'steady', 300_000 * (1 + wobble(i)))];
    if (age >= 0) {
      processes.push(
        proc(801, 'newleak', 200_000 * (1 + 0.05 * age + wobble(i + 7))),
        proc(802, 'newcache', 200_000 * (1 + 0.3 * Math.min(1, age / 0.67) + wobble(i + 13))),
      );
    }
    return {
      ...base,
      snapshotId: randomUUID(),
      takenAtMs: t,
      host: { ...base.host, name: 'young-1' },
      processes,
    };
  });
}

for (const driver of testDrivers()) {
  describe(`top over windows longer than six hours, with a process started 2.5 hours ago (${driver})`, () => {
    let t: TestDb;
    const nowMs = Date.now();
    const endMs = nowMs - 60_000;
    beforeAll(async () => {
      t = await createTestDb(driver);
      for (const s of hostWithNewProcesses(endMs)) await ingestSnapshot(t.db, s);
      await rollupAggregates(t.db, { settleMs: 0 });
    }, 300_000);
    afterAll(async () => {
      await t?.[Symbol.asyncDispose]();
    });

    const verdicts = (rows: { comm: string; leak: boolean; reason: string }[]) =>
      rows.map((r) => `${r.comm} ${r.leak ? 'LEAK' : r.reason}`).sort();

    it('judges the new process on what it has shown, as the 6-hour window does', async () => {
      const services = createQueryServices(t.db, () => nowMs);
      const top = (windowMs: number) =>
        services.top({ windowMs, metric: 'anon', limit: 10, all: true });
      const six = await top(6 * HOUR_MS);
      expect(verdicts(six)).toEqual([
        'newcache no-significant-trend',
        'newleak LEAK',
        'steady no-significant-trend',
      ]);
      for (const windowMs of [24 * HOUR_MS, 7 * DAY_MS]) {
        const long = await top(windowMs);
        expect(verdicts(long)).toEqual(verdicts(six));
        const leak = long.find((r) => r.comm === 'newleak');
        // Judged on the same 5-minute buckets, not on two hourly ones.
        expect(leak?.slopeKbPerHour).toBe(six.find((r) => r.comm === 'newleak')?.slopeKbPerHour);
        expect(leak?.pctPerHour).toBeGreaterThan(3);
      }
    });

    it('stores, for the windows refreshed in one pass, the verdicts live scoring gives', async () => {
      const services = createQueryServices(t.db, () => nowMs);
      const windows = [6 * HOUR_MS, 24 * HOUR_MS, 7 * DAY_MS];
      const top = () =>
        Promise.all(
          windows.map((windowMs) =>
            services.top({ windowMs, metric: 'anon', limit: 10, all: true }),
          ),
        );
      const live = await top();
      const done = await refreshVerdicts(
        t.db,
        { windowsMs: windows, metrics: ['anon'] },
        { nowMs },
      );
      expect(done.map((d) => d.windowMs)).toEqual(windows);
      const stored = await top();
      expect(stored).toEqual(live);
      expect(stored[1]?.find((r) => r.comm === 'newleak')?.leak).toBe(true);
      await t.db.delete(schema.verdictRuns);
    });
  });
}
