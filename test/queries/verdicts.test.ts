import { randomUUID } from 'node:crypto';
import {
  createQueryServices,
  type QueryServices,
  refreshPeriodMs,
  refreshVerdicts,
  staleAfterMs,
} from '@fleetpmap/api';
import {
  createTestDb,
  ingestSnapshot,
  listVerdictRuns,
  rollupAggregates,
  schema,
  type TestDb,
  testDrivers,
} from '@fleetpmap/db';
import { exampleProcess, exampleSnapshot, type Snapshot } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfilledWorkers, fleetSnapshots, HOUR_MS, SAMPLE_MS } from './fleet-history.ts';

/**
 * A host where nothing moves: two flat processes of different sizes and a kernel thread (no
 * address space, every size 0). Their slopes tie at 0, so their order is the tie-break's.
 */
function quietHostSnapshots(endMs: number, hours: number): Snapshot[] {
  const base = exampleSnapshot();
  const flat = (pid: number, comm: string, anonKb: number) => {
    const p = exampleProcess({
      pid,
      startTicks: pid * 10,
      comm,
      cmdline: anonKb === 0 ? '' : `/usr/bin/${comm}`,
      exe: `/usr/bin/${comm}`,
      status: {
        vmSizeKb: anonKb * 3,
        vmRssKb: anonKb,
        rssAnonKb: anonKb,
        rssFileKb: 0,
        rssShmemKb: 0,
        vmSwapKb: 0,
        vmDataKb: anonKb,
        vmStkKb: anonKb === 0 ? 0 : 132,
        vmHwmKb: anonKb,
      },
    });
    // A kernel thread has no exe to read.
    if (anonKb === 0) delete p.exe;
    return p;
  };
  const steps = Math.round((hours * HOUR_MS) / SAMPLE_MS);
  return Array.from({ length: steps }, (_, i) => ({
    ...base,
    snapshotId: randomUUID(),
    takenAtMs: endMs - (steps - 1 - i) * SAMPLE_MS,
    host: {
      ...base.host,
      name: 'quiet-1',
      labels: { env: 'quiet' },
      bootId: '6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d99',
    },
    processes: [flat(2, 'kthreadd', 0), flat(300, 'small', 5_000), flat(301, 'large', 9_000)],
  }));
}

const SCHEDULE = { windowsMs: [HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS], metrics: ['anon' as const] };

for (const driver of testDrivers()) {
  describe(`leak verdicts stored after the rollup (${driver})`, () => {
    let t: TestDb;
    let services: QueryServices;
    let nowMs = Date.now();
    const endMs = nowMs - 60_000;

    /** Forgets the stored runs, so the next queries score live; returns what they return. */
    async function live<T>(query: () => Promise<T>): Promise<T> {
      await t.db.delete(schema.verdictRuns);
      return query();
    }

    beforeAll(async () => {
      t = await createTestDb(driver);
      for (const s of fleetSnapshots(endMs, 6)) await ingestSnapshot(t.db, s);
      for (const s of quietHostSnapshots(endMs, 6)) await ingestSnapshot(t.db, s);
      await rollupAggregates(t.db, { settleMs: 0 });
      services = createQueryServices(t.db, () => nowMs);
    }, 300_000);
    afterAll(async () => {
      await t?.[Symbol.asyncDispose]();
    });

    it('answers top and the pivot exactly as live scoring does, filters and limits included', async () => {
      const done = await refreshVerdicts(t.db, SCHEDULE, { nowMs });
      expect(done.map((d) => [d.windowMs / HOUR_MS, d.rows])).toEqual([
        [1, 11],
        [6, 11],
        [24, 11],
      ]);
      const inputs = [
        { windowMs: 6 * HOUR_MS, limit: 100, all: true },
        { windowMs: 6 * HOUR_MS, limit: 100, all: false },
        { windowMs: 6 * HOUR_MS, limit: 1, all: true },
        { windowMs: HOUR_MS, limit: 100, all: true },
        { windowMs: 6 * HOUR_MS, limit: 100, all: true, hostGlob: 'web-*' },
        { windowMs: 6 * HOUR_MS, limit: 100, all: true, labels: { env: 'staging' } },
        { windowMs: 6 * HOUR_MS, limit: 100, all: true, comm: 'leaky' },
        { windowMs: 6 * HOUR_MS, limit: 100, all: true, hostGlob: 'nowhere-*' },
        { windowMs: 6 * HOUR_MS, limit: 100, all: true, hostGlob: 'quiet-*' },
      ].map((i) => ({ ...i, metric: 'anon' as const }));
      const pivotInput = {
        windowMs: 6 * HOUR_MS,
        metric: 'anon' as const,
        groupBy: 'exe' as const,
        limit: 10,
      };
      const stored = await Promise.all(inputs.map((i) => services.top(i)));
      const storedPivot = await services.pivot(pivotInput);
      const scored = await live(() => Promise.all(inputs.map((i) => services.top(i))));
      expect(stored).toEqual(scored);
      expect(storedPivot).toEqual(await services.pivot(pivotInput));
      // The fleet's truth: leaky leaks on web-1 and web-2, and nothing else does.
      expect(stored[1]?.map((r) => `${r.host} ${r.comm}`).sort()).toEqual([
        'web-1 leaky',
        'web-2 leaky',
      ]);
      expect(stored[2]).toHaveLength(1);
      // Both say which window end they judged: the run's end, here the asked one.
      expect(stored.flat().every((r) => r.asOfMs === nowMs)).toBe(true);
      // Each stored row keeps its process's start: boot time + start ticks at 100 Hz.
      const boot = exampleSnapshot().host.bootTimeMs ?? Number.NaN;
      expect(stored[1]?.map((r) => [r.startTicks, r.startedAtMs])).toEqual([
        [1000, boot + 10_000],
        [1000, boot + 10_000],
      ]);
      // ...and the limit its time to limit ran to: the fleet's cgroup limit, below MemTotal.
      const cgroupLimit = exampleProcess().memoryLimitKb;
      expect(stored[1]?.map((r) => r.limitKb)).toEqual([cgroupLimit, cgroupLimit]);
      expect(stored[5]?.every((r) => r.host === 'db-1')).toBe(true);
      expect(stored[7]).toEqual([]);
      // Ties in slope list the largest first, the kernel thread last.
      expect(stored[8]?.map((r) => [r.comm, r.slopeKbPerHour, r.currentKb])).toEqual([
        ['large', 0, 9_000],
        ['small', 0, 5_000],
        ['kthreadd', 0, 0],
      ]);
      expect(storedPivot.find((g) => g.group === '/usr/bin/leaky')).toMatchObject({
        hosts: 4,
        leakingHosts: 2,
      });
    });

    it('serves the stored run, not a rescoring, while it is fresh; past its age it scores live', async () => {
      await refreshVerdicts(t.db, SCHEDULE, { nowMs, force: true });
      // Emptied behind the run's back: a read that still finds the processes scored live.
      await t.db.delete(schema.leakVerdicts);
      const query = { windowMs: HOUR_MS, metric: 'anon' as const, limit: 100, all: true };
      expect(await services.top(query)).toEqual([]);
      const later = nowMs + staleAfterMs(HOUR_MS) + 1;
      const stale = createQueryServices(t.db, () => later);
      expect((await stale.top(query)).length).toBeGreaterThan(0);
      // The day's run is refreshed less often, so it is trusted longer.
      expect((await stale.top({ ...query, windowMs: 24 * HOUR_MS })).length).toBe(0);
      // A question about the past is never answered by a run that saw later data.
      const past = await services.top({ ...query, toMs: nowMs - 2 * HOUR_MS });
      expect(past.length).toBeGreaterThan(0);
    });

    it('refreshes each window once per period, at once after late data, and once across callers', async () => {
      await refreshVerdicts(t.db, SCHEDULE, { nowMs, force: true });
      expect(await refreshVerdicts(t.db, SCHEDULE, { nowMs: nowMs + 60_000 })).toEqual([]);
      const oneHour = await refreshVerdicts(t.db, SCHEDULE, {
        nowMs: nowMs + refreshPeriodMs(HOUR_MS),
      });
      expect(oneHour.map((d) => d.windowMs / HOUR_MS)).toEqual([1, 6]);

      // New data at the live edge: a run that cost little is redone after the next rollup, one
      // that cost 10 s waits for its period.
      const liveEdge = async (atMs: number) => {
        const [s] = fleetSnapshots(atMs, SAMPLE_MS / HOUR_MS);
        if (s) await ingestSnapshot(t.db, s);
        expect((await rollupAggregates(t.db, { settleMs: 0 })).late).toBe(false);
      };
      await liveEdge(Date.now());
      const cheap = await refreshVerdicts(t.db, SCHEDULE, { nowMs: nowMs + 6 * 60_000 });
      expect(cheap.map((d) => d.windowMs / HOUR_MS)).toEqual([1, 6, 24]);
      await t.db.update(schema.verdictRuns).set({ tookMs: 10_000 });
      await liveEdge(Date.now() + 1000);
      expect(await refreshVerdicts(t.db, SCHEDULE, { nowMs: nowMs + 8 * 60_000 })).toEqual([]);

      // A backfill rewrites the past: top sees it at once, and the next refresh redoes both.
      const before = await services.top({
        windowMs: 6 * HOUR_MS,
        metric: 'anon',
        limit: 100,
        all: true,
        hostGlob: 'late-1',
      });
      expect(before).toEqual([]);
      for (const s of backfilledWorkers(endMs - 30 * 60_000)) await ingestSnapshot(t.db, s);
      expect((await rollupAggregates(t.db, { settleMs: 0 })).late).toBe(true);
      const fresh = await services.top({
        windowMs: 6 * HOUR_MS,
        metric: 'anon',
        limit: 100,
        all: true,
        hostGlob: 'late-1',
      });
      expect(fresh.map((r) => `${r.pid} ${r.leak}`)).toEqual(['300 true', '301 false']);
      nowMs += refreshPeriodMs(HOUR_MS);
      // Two servers at once: one computes each run, the other finds it done.
      const both = await Promise.all([
        refreshVerdicts(t.db, SCHEDULE, { nowMs }),
        refreshVerdicts(t.db, SCHEDULE, { nowMs }),
      ]);
      expect(
        both
          .flat()
          .map((d) => d.windowMs / HOUR_MS)
          .sort((a, b) => a - b),
      ).toEqual([1, 6, 24]);
      const runs = await listVerdictRuns(t.db);
      expect(runs.map((r) => [r.windowMs / HOUR_MS, r.toMs])).toEqual([
        [1, nowMs],
        [6, nowMs],
        [24, nowMs],
      ]);
      const stored = await services.top({
        windowMs: 6 * HOUR_MS,
        metric: 'anon',
        limit: 100,
        all: true,
        hostGlob: 'late-1',
      });
      expect(stored.map((r) => `${r.pid} ${r.leak}`)).toEqual(['300 true', '301 false']);
      // Two minutes on, the same run still answers, and says how old it is.
      const later = createQueryServices(t.db, () => nowMs + 2 * 60_000);
      const again = await later.top({
        windowMs: 6 * HOUR_MS,
        metric: 'anon',
        limit: 100,
        all: true,
        hostGlob: 'late-1',
      });
      expect(again.map((r) => r.asOfMs)).toEqual([nowMs, nowMs]);
    });
  });
}
