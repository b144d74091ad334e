import { randomUUID } from 'node:crypto';
import {
  exampleMapping,
  exampleProcess,
  exampleSnapshot,
  type Mapping,
  type Snapshot,
} from '@fleetpmap/protocol';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { queryRows } from './client.ts';
import { ingestSnapshot } from './ingest.ts';
import {
  diffMappings,
  getFullMap,
  latestProcesses,
  listFullMaps,
  listHosts,
  processSeries,
} from './queries.ts';
import { processAggregates, rollupAggregates } from './rollup.ts';
import { createTestDb, type TestDb, testDrivers } from './test-db.ts';

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

async function tableBytes(t: TestDb, table: string): Promise<number> {
  const [r] = await queryRows<{ n: string }>(
    t.db,
    sql`select coalesce(sum(pg_total_relation_size(inhrelid)), 0)::bigint as n from pg_inherits where inhparent = ${table}::regclass`,
  );
  return Number(r?.n);
}

// Real databases on shared CI machines: generous limits, correctness is what is asserted.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

describe.each(testDrivers())('read services on %s', (driver) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(driver);
  }, 120_000);
  afterAll(async () => {
    await t?.[Symbol.asyncDispose]();
  });

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
