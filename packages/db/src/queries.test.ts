import { randomUUID } from 'node:crypto';
import {
  exampleMapping,
  exampleProcess,
  exampleSnapshot,
  type Mapping,
  type Snapshot,
} from '@fleetpmap/protocol';
import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { type Db, queryRows } from './client.ts';
import { ingestSnapshot } from './ingest.ts';
import {
  diffMappings,
  getFullMap,
  incarnationKey,
  latestProcesses,
  listFullMaps,
  listHosts,
  processSeries,
} from './queries.ts';
import { processAggregates, rollupAggregates } from './rollup.ts';
import { testDrivers } from './test-db.ts';
import { useTestDb } from './use-test-db.ts';

const T0 = Date.UTC(2026, 10, 23, 6, 0, 0);
const MIN = 60_000;

function libs(n: number): Mapping[] {
  return Array.from({ length: n }, (_, i) =>
    exampleMapping({
      start: (0x7f0000000000 + i * 0x21000).toString(16),
      end: (0x7f0000021000 + i * 0x21000).toString(16),
      perms: 'r-xp',
      dev: 'fe:01',
      inode: 1000 + i,
      path: `/usr/lib/x86_64-linux-gnu/lib${i}.so.1`,
      kb: { Size: 132, Rss: 64, Pss: 12, Private_Dirty: 0 },
    }),
  );
}

function heap(rssKb: number): Mapping {
  return exampleMapping({ end: '55d4a4000000', kb: { Size: rssKb + 100, Rss: rssKb, Pss: rssKb } });
}

function snapAt(takenAtMs: number, mutate?: (s: Snapshot) => void): Snapshot {
  const s = exampleSnapshot({ snapshotId: randomUUID(), takenAtMs });
  mutate?.(s);
  return s;
}

async function tableBytes(t: { readonly db: Db }, table: string): Promise<number> {
  const [r] = await queryRows<{ n: string }>(
    t.db,
    sql`select coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint as n from pg_inherits where inhparent = ${table}::regclass`,
  );
  return Number(r?.n);
}

// Real databases on shared CI machines: generous limits, correctness is what is asserted.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

describe.each(testDrivers())('read services on %s', (driver) => {
  const t = useTestDb(driver);

  it('stores a stable full map again for a small fraction of the first and rebuilds it exactly', async () => {
    const first = [heap(1000), ...libs(300)];
    const withMap = (m: Mapping[]) => (s: Snapshot) => {
      s.processes[0] = exampleProcess({ mappings: m });
    };
    expect((await ingestSnapshot(t.db, snapAt(T0, withMap(first)))).mappingsStored).toBe(301);
    const afterFirst = (await tableBytes(t, 'map_entries')) + (await tableBytes(t, 'full_maps'));
    const [entries1] = await queryRows<{ n: number }>(
      t.db,
      sql`select count(*)::int as n from map_entries`,
    );
    const repeat = await ingestSnapshot(
      t.db,
      snapAt(T0 + 15 * MIN, withMap(structuredClone(first))),
    );
    expect(repeat).toMatchObject({ mappingCount: 301, mappingsStored: 0 });
    const [entries2] = await queryRows<{ n: number }>(
      t.db,
      sql`select count(*)::int as n from map_entries`,
    );
    expect(Number(entries2?.n)).toBe(Number(entries1?.n));
    const [mapRows] = await queryRows<{ b: number }>(
      t.db,
      sql`select sum(octet_length(entry_hashes))::int as b from full_maps`,
    );
    // the repeat costs its list of 16-byte content addresses, nothing else
    expect(Number(mapRows?.b)).toBe(2 * 301 * 16);
    expect(301 * 16).toBeLessThan(afterFirst / 10);

    const grown = [heap(5000), ...libs(300).slice(0, 299)];
    await ingestSnapshot(t.db, snapAt(T0 + 30 * MIN, withMap(grown)));
    const refs = await listFullMaps(t.db, { hostName: 'web-07', pid: 812 });
    expect(refs.map((r) => r.takenAtMs)).toEqual([T0, T0 + 15 * MIN, T0 + 30 * MIN]);
    const at = await getFullMap(t.db, { hostName: 'web-07', pid: 812, atMs: T0 + 16 * MIN });
    expect(at?.takenAtMs).toBe(T0 + 15 * MIN);
    expect(at?.mappings).toEqual(first);
    expect(at?.cmdline).toBe('java -Xmx2g -jar /srv/app.jar');
    const later = await getFullMap(t.db, { hostName: 'web-07', pid: 812, atMs: T0 + 60 * MIN });
    const diff = diffMappings(at?.mappings ?? [], later?.mappings ?? []);
    expect(diff.map((d) => [d.after?.path ?? d.before?.path, d.rssDeltaKb])).toEqual([
      ['[heap]', 4000],
      ['/usr/lib/x86_64-linux-gnu/lib299.so.1', -64],
    ]);
  });

  it('lists hosts and the latest state of processes, with the newest rollup read', async () => {
    await ingestSnapshot(
      t.db,
      snapAt(T0 + 40 * MIN, (s) => {
        const p = s.processes[1];
        if (p) {
          p.rollup = {
            rssKb: 1,
            pssKb: 777,
            pssAnonKb: 0,
            pssFileKb: 0,
            pssShmemKb: 0,
            sharedCleanKb: 0,
            sharedDirtyKb: 0,
            privateCleanKb: 5,
            privateDirtyKb: 6,
            anonymousKb: 0,
            swapKb: 0,
            swapPssKb: 0,
            lockedKb: 0,
          };
        }
      }),
    );
    await ingestSnapshot(t.db, snapAt(T0 + 41 * MIN));
    const [h] = await listHosts(t.db);
    expect(h).toMatchObject({ name: 'web-07', processCount: 2, lastSeenMs: T0 + 41 * MIN });
    expect(h?.labels).toEqual({ env: 'prod', role: 'web' });
    const ps = await latestProcesses(t.db);
    const nginx = ps.find((p) => p.pid === 4121);
    expect(nginx).toMatchObject({
      comm: 'nginx',
      takenAtMs: T0 + 41 * MIN,
      rollupAtMs: T0 + 40 * MIN,
    });
    expect(nginx?.rollup?.pssKb).toBe(777);
  });

  it('returns a process series and rolls up aggregates whose sums give the growth rate', async () => {
    const start = T0 + 2 * 3_600_000;
    for (let i = 0; i < 120; i++) {
      await ingestSnapshot(
        t.db,
        snapAt(start + i * MIN, (s) => {
          s.host.name = 'db-1';
          const p = s.processes[0];
          if (p) p.status = { ...p.status, rssAnonKb: 100_000 + i * 10, vmSwapKb: 0 };
        }),
      );
    }
    const series = await processSeries(t.db, {
      hostName: 'db-1',
      pid: 812,
      fromMs: start,
      toMs: start + 10 * MIN,
    });
    expect(series).toHaveLength(1);
    expect(series[0]?.points.map((p) => p.status.rssAnonKb)).toEqual(
      Array.from({ length: 11 }, (_, i) => 100_000 + i * 10),
    );
    const r = await rollupAggregates(t.db, { settleMs: 0 });
    expect(r.ran).toBe(true);
    expect(r.buckets5m).toBeGreaterThanOrEqual(24);
    const again = await rollupAggregates(t.db, { settleMs: 0 });
    expect(again.buckets5m).toBe(0);

    const hourly = await processAggregates(t.db, {
      fromMs: start,
      toMs: start + 2 * 3_600_000,
      resolution: '1h',
      hostNames: ['db-1'],
    });
    const java = hourly.find((p) => p.pid === 812);
    expect(java?.comm).toBe('java');
    // Its last sighting is its newest aggregated sample, not the last keyframe's (UPTIME in top).
    expect(java?.lastSeenMs).toBe(start + 119 * MIN);
    expect(java?.buckets).toHaveLength(2);
    // least squares over the merged sums: 10 KiB per minute = 600 KiB/h
    let n = 0;
    let st = 0;
    let stt = 0;
    let sy = 0;
    let sty = 0;
    for (const b of java?.buckets ?? []) {
      const a = b.metrics.anon;
      if (!a) continue;
      const off = (b.startMs - start) / 1000;
      n += a.n;
      st += a.sumSec + a.n * off;
      stt += a.sumSecSq + 2 * off * a.sumSec + a.n * off * off;
      sy += a.sumKb;
      sty += a.sumSecKb + off * a.sumKb;
    }
    expect(n).toBe(120);
    const slopePerHour = ((n * sty - st * sy) / (n * stt - st * st)) * 3600;
    expect(slopePerHour).toBeCloseTo(600, 6);
    expect(java?.buckets[1]?.metrics.anon?.minKb).toBe(100_600);
    expect(java?.buckets[1]?.metrics.anon?.lastKb).toBe(100_000 + 119 * 10);

    const fine = await processAggregates(t.db, {
      fromMs: start + 3_600_000,
      toMs: start + 2 * 3_600_000,
      hostNames: ['db-1'],
    });
    expect(fine.find((p) => p.pid === 812)?.buckets).toHaveLength(12);
    // A read for a few processes keeps only theirs.
    const java812 = fine.find((p) => p.pid === 812);
    const only = java812 ? `${java812.hostId}/${incarnationKey(java812)}` : '';
    const one = await processAggregates(t.db, {
      fromMs: start + 3_600_000,
      toMs: start + 2 * 3_600_000,
      hostNames: ['db-1'],
      only: new Set([only]),
    });
    expect(fine.length).toBeGreaterThan(1);
    expect(one.map((p) => p.pid)).toEqual([812]);
    expect(one[0]?.buckets).toEqual(java812?.buckets);

    // a late replay into an already rolled-up bucket is folded in by the next run
    await ingestSnapshot(
      t.db,
      snapAt(start + 30_000, (s) => {
        s.host.name = 'db-1';
      }),
    );
    await rollupAggregates(t.db, { settleMs: 0 });
    const replayed = await processAggregates(t.db, {
      fromMs: start,
      toMs: start + 3_600_000,
      resolution: '1h',
      hostNames: ['db-1'],
    });
    expect(replayed.find((p) => p.pid === 812)?.buckets[0]?.metrics.anon?.n).toBe(61);
  });
});

describe.each(testDrivers())('process start times on %s', (driver) => {
  const t = useTestDb(driver);

  const BOOT = T0 - 3 * 86_400_000;
  const NEW_BOOT_ID = '0c7e4a9d-51f2-4f3b-8b6e-2d9a7c1e5f40';

  async function startsOf(hostName: string) {
    const states = await latestProcesses(t.db, { hostNames: [hostName] });
    return Object.fromEntries(states.map((s) => [s.pid, s.startedAtMs]));
  }

  it('keeps each incarnation the start its first boot time gave it, across clock steps and reboots', async () => {
    const host = (s: Snapshot, bootTimeMs: number | undefined) => {
      s.host.name = 'boot-1';
      if (bootTimeMs === undefined) delete s.host.bootTimeMs;
      else s.host.bootTimeMs = bootTimeMs;
    };
    // An agent that predates the boot time: the start is unknown.
    await ingestSnapshot(
      t.db,
      snapAt(T0, (s) => host(s, undefined)),
    );
    expect(await startsOf('boot-1')).toEqual({ 812: null, 4121: null });

    // Upgraded agent, same boot: a process new since the keyframe gets its start at once
    // (100 ticks a second: 70,000 ticks are 700 s after boot)...
    await ingestSnapshot(
      t.db,
      snapAt(T0 + MIN, (s) => {
        host(s, BOOT);
        s.processes.push(exampleProcess({ pid: 900, startTicks: 70_000, comm: 'cron' }));
      }),
    );
    expect((await startsOf('boot-1'))[900]).toBe(BOOT + 700_000);

    // ...and the ones an older agent found get theirs at the next keyframe. The host's clock was
    // set an hour forward meanwhile: a process seen before keeps the start first computed.
    await ingestSnapshot(
      t.db,
      snapAt(T0 + 61 * MIN, (s) => {
        host(s, BOOT + 3_600_000);
        s.processes.push(exampleProcess({ pid: 900, startTicks: 70_000, comm: 'cron' }));
      }),
    );
    expect(await startsOf('boot-1')).toEqual({
      812: BOOT + 3_600_000 + 512_340,
      4121: BOOT + 3_600_000 + 991_200,
      900: BOOT + 700_000,
    });

    // A reboot: pid 812 is a new incarnation with a start of its own; the old one keeps its own.
    const reboot = T0 + 62 * MIN;
    await ingestSnapshot(
      t.db,
      snapAt(T0 + 63 * MIN, (s) => {
        host(s, reboot);
        s.host.bootId = NEW_BOOT_ID;
        s.processes = [exampleProcess({ startTicks: 300 })];
      }),
    );
    expect(await startsOf('boot-1')).toEqual({ 812: reboot + 3_000 });
    const rows = await queryRows<{ boot_id: string; started_at_ms: string | null }>(
      t.db,
      sql`select i.boot_id::text, i.started_at_ms from incarnations i join hosts h on h.id = i.host_id
          where h.name = 'boot-1' and i.pid = 812 order by i.first_seen_ms`,
    );
    expect(rows.map((r) => [r.boot_id, Number(r.started_at_ms)])).toEqual([
      ['6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d13', BOOT + 3_600_000 + 512_340],
      [NEW_BOOT_ID, reboot + 3_000],
    ]);

    await rollupAggregates(t.db, { settleMs: 0 });
    const series = await processAggregates(t.db, {
      fromMs: T0,
      toMs: T0 + 2 * 3_600_000,
      hostNames: ['boot-1'],
    });
    expect(series.map((s) => [s.pid, s.bootId === NEW_BOOT_ID, s.startedAtMs]).sort()).toEqual(
      [
        [812, false, BOOT + 3_600_000 + 512_340],
        [812, true, reboot + 3_000],
        [900, false, BOOT + 700_000],
        [4121, false, BOOT + 3_600_000 + 991_200],
      ].sort(),
    );
  });

  it('stores no start that the figures put after the snapshot', async () => {
    await ingestSnapshot(
      t.db,
      snapAt(T0, (s) => {
        s.host.name = 'boot-2';
        s.host.bootTimeMs = T0 - 1000;
        // 2 hours after boot, but the snapshot was taken one second after it.
        s.processes = [exampleProcess({ startTicks: 720_000 })];
      }),
    );
    expect(await startsOf('boot-2')).toEqual({ 812: null });
  });
});

describe.each(testDrivers())('process memory limits on %s', (driver) => {
  const t = useTestDb(driver);

  async function limitsOf(hostName: string) {
    const states = await latestProcesses(t.db, { hostNames: [hostName] });
    return Object.fromEntries(states.map((s) => [s.pid, s.memoryLimitKb]));
  }

  /** The host's processes with the given limits (undefined = none sent). */
  const withLimits = (limits: Record<number, number | undefined>) => (s: Snapshot) => {
    s.host.name = 'limits-1';
    s.processes = Object.entries(limits).map(([pid, memoryLimitKb]) => {
      const p = exampleProcess({ pid: Number(pid), startTicks: Number(pid) * 100 });
      if (memoryLimitKb === undefined) delete p.memoryLimitKb;
      else p.memoryLimitKb = memoryLimitKb;
      return p;
    });
  };

  it('keeps the newest limit of each incarnation: new and changed ones at once, the rest at keyframes', async () => {
    await ingestSnapshot(t.db, snapAt(T0, withLimits({ 812: 1_048_576, 4121: undefined })));
    expect(await limitsOf('limits-1')).toEqual({ 812: 1_048_576, 4121: null });

    // Between keyframes, processes new since the keyframe and those whose limit changed since it
    // are written.
    await ingestSnapshot(
      t.db,
      snapAt(T0 + MIN, withLimits({ 812: 2_097_152, 4121: undefined, 900: 524_288 })),
    );
    expect(await limitsOf('limits-1')).toEqual({ 812: 2_097_152, 4121: null, 900: 524_288 });

    // The next keyframe: a lifted limit is gone, a new one is there.
    await ingestSnapshot(
      t.db,
      snapAt(T0 + 61 * MIN, withLimits({ 812: undefined, 4121: 3_145_728, 900: 524_288 })),
    );
    expect(await limitsOf('limits-1')).toEqual({ 812: null, 4121: 3_145_728, 900: 524_288 });

    // A snapshot older than what is stored (a replayed spool) does not undo a newer limit: pid
    // 900 is new to the keyframe it refers to, so its row is written, but the newer value stays.
    await ingestSnapshot(
      t.db,
      snapAt(T0 + 30 * MIN, withLimits({ 812: 1_048_576, 4121: undefined, 900: 1_024 })),
    );
    expect(await limitsOf('limits-1')).toEqual({ 812: null, 4121: 3_145_728, 900: 524_288 });

    await rollupAggregates(t.db, { settleMs: 0 });
    const series = await processAggregates(t.db, {
      fromMs: T0,
      toMs: T0 + 2 * 3_600_000,
      hostNames: ['limits-1'],
    });
    expect(Object.fromEntries(series.map((s) => [s.pid, s.memoryLimitKb]))).toEqual({
      812: null,
      4121: 3_145_728,
      900: 524_288,
    });
  });
});

describe('diffMappings', () => {
  const anon = (start: string, end: string, rssKb: number) =>
    exampleMapping({
      start,
      end,
      path: '',
      inode: 0,
      dev: '00:00',
      kb: { ...exampleMapping().kb, Size: rssKb, Rss: rssKb, Anonymous: rssKb },
    });

  it('counts a region that grew downwards (same end, lower start) as one mapping that grew', () => {
    const before = [
      anon('7f0000000000', '7f0010000000', 230_000),
      anon('7f2000000000', '7f2000100000', 1024),
    ];
    // 80 MB more, merged below the region by the kernel; the other mapping went away.
    const after = [anon('7effeb000000', '7f0010000000', 310_000)];
    const d = diffMappings(before, after);
    expect(d.map((c) => [c.after?.start ?? null, c.before?.start ?? null, c.rssDeltaKb])).toEqual([
      ['7effeb000000', '7f0000000000', 80_000],
      [null, '7f2000000000', -1024],
    ]);
  });

  it('keeps mappings of other paths apart even where they overlap', () => {
    const lib = exampleMapping({
      start: '7f0000000000',
      end: '7f0000100000',
      path: '/usr/lib/a.so',
    });
    const other = exampleMapping({
      start: '7f0000080000',
      end: '7f0000200000',
      path: '/usr/lib/b.so',
    });
    expect(diffMappings([lib], [other]).map((c) => (c.before ? 'gone' : 'new'))).toEqual([
      'new',
      'gone',
    ]);
  });
});
