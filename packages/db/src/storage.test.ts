import { randomUUID } from 'node:crypto';
import {
  exampleMapping,
  exampleProcess,
  exampleSnapshot,
  type Snapshot,
} from '@fleetpmap/protocol';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { readBlocks, readLatestBlocks } from './blocks.ts';
import { migrate, queryRows } from './client.ts';
import { ingestSnapshot } from './ingest.ts';
import { ensurePartitionsFor, maintainPartitions } from './partitions.ts';
import { hosts, incarnations, sampleBlocks } from './schema/index.ts';
import { testDrivers } from './test-db.ts';
import { createToken, listTokens, revokeToken, verifyToken } from './tokens.ts';
import { useTestDb } from './use-test-db.ts';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

function snap(i: number, mutate?: (s: Snapshot) => void): Snapshot {
  const s = exampleSnapshot({ snapshotId: randomUUID(), takenAtMs: T0 + i * 30_000 });
  for (const p of s.processes) p.status = { ...p.status, rssAnonKb: p.status.rssAnonKb + i * 8 };
  mutate?.(s);
  return s;
}

// Real databases on shared CI machines: generous limits, correctness is what is asserted.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

describe.each(testDrivers())('storage on %s', (driver) => {
  const t = useTestDb(driver);
  const countRows = async (table: string) =>
    Number(
      (
        await queryRows<{ n: number }>(
          t.db,
          sql`select count(*)::int as n from ${sql.identifier(table)}`,
        )
      )[0]?.n,
    );

  it('applies migrations again without error', async () => {
    await migrate(t.handle);
    const rows = await queryRows<{ n: number }>(
      t.db,
      sql`select count(*)::int as n from pg_partitioned_table`,
    );
    expect(Number(rows[0]?.n)).toBe(5);
  });

  it('stores a snapshot once: a re-send is a duplicate and stores nothing', async () => {
    const s = snap(0);
    const first = await ingestSnapshot(t.db, s, { nowMs: T0 });
    expect(first).toMatchObject({ accepted: true, duplicate: false, processCount: 2 });
    const again = await ingestSnapshot(t.db, structuredClone(s), { nowMs: T0 });
    expect(again).toMatchObject({ accepted: true, duplicate: true, processCount: 0 });
    const blocks = await t.db
      .select({ id: sampleBlocks.snapshotId })
      .from(sampleBlocks)
      .where(eq(sampleBlocks.snapshotId, s.snapshotId));
    expect(blocks).toHaveLength(1);
    // a re-sent delta snapshot (the one-statement path) changes nothing either
    const next = snap(0, (x) => {
      x.takenAtMs += 10_000;
    });
    expect((await ingestSnapshot(t.db, next)).duplicate).toBe(false);
    expect((await ingestSnapshot(t.db, structuredClone(next))).duplicate).toBe(true);
    const [host] = await t.db.select().from(hosts).where(eq(hosts.name, 'web-07'));
    expect(host).toMatchObject({ processCount: 2, lastSeenMs: next.takenAtMs });
  });

  it('reads back every sample exactly across keyframes and deltas, pid reuse included', async () => {
    const sent: Snapshot[] = [];
    for (let i = 1; i <= 6; i++) {
      const s = snap(i, (x) => {
        if (i >= 4)
          x.processes.push(exampleProcess({ pid: 5000, startTicks: 700 + i, comm: 'cron' }));
        if (i === 5)
          (x.processes[0] as Snapshot['processes'][number]).error = {
            code: 'ENOENT',
            message: 'exited',
          };
      });
      sent.push(s);
      await ingestSnapshot(t.db, s, { nowMs: T0 });
    }
    const [host] = await t.db.select().from(hosts).where(eq(hosts.name, 'web-07'));
    if (!host) throw new Error('host not stored');
    const blocks = await readBlocks(t.db, host.id, T0 + 30_000, T0 + 6 * 30_000);
    expect(blocks.map((b) => b.takenAtMs)).toEqual(sent.map((s) => s.takenAtMs));
    expect(blocks.filter((b) => b.isKeyframe)).toHaveLength(0);
    for (const [i, b] of blocks.entries()) {
      const want = (sent[i] as Snapshot).processes
        .map((p) => ({
          pid: p.pid,
          startTicks: p.startTicks,
          anon: p.status.rssAnonKb,
          err: p.error?.code,
        }))
        .sort((a, c) => a.pid - c.pid);
      const got = b.samples
        .map((p) => ({
          pid: p.pid,
          startTicks: p.startTicks,
          anon: p.status.rssAnonKb,
          err: p.error?.code,
        }))
        .sort((a, c) => a.pid - c.pid);
      expect(got).toEqual(want);
    }
    const cron = await t.db.select().from(incarnations).where(eq(incarnations.pid, 5000));
    expect(cron.map((c) => c.startTicks).sort()).toEqual([704, 705, 706]);
  });

  it('records an exec, a new limit or a rewritten command line between keyframes at once, on both ingest paths', async () => {
    const at = (i: number, over: Partial<Snapshot['processes'][number]>, mapped = false) => {
      const s = exampleSnapshot({ snapshotId: randomUUID(), takenAtMs: T0 + i * 30_000 });
      s.host = { ...s.host, name: 'exec-1' };
      s.processes = [
        exampleProcess({
          pid: 900,
          startTicks: 9_000,
          comm: 'bash',
          cmdline: 'bash -c sleep 45; exec python3 app.py',
          exe: '/usr/bin/bash',
          ...over,
          ...(mapped ? { mappings: [exampleMapping()] } : {}),
        }),
      ];
      return s;
    };
    const row = async () => {
      const [r] = await t.db.select().from(incarnations).where(eq(incarnations.pid, 900));
      return r && [r.comm, r.cmdline, r.exe, r.memoryLimitKb];
    };
    await ingestSnapshot(t.db, at(1, {}), { nowMs: T0 });
    const python = { comm: 'python3', cmdline: 'python3 app.py', exe: '/usr/bin/python3.11' };
    // A delta of the same incarnation (pid and start), the one-statement path.
    await ingestSnapshot(t.db, at(2, python), { nowMs: T0 });
    expect(await row()).toEqual(['python3', 'python3 app.py', '/usr/bin/python3.11', 4_194_304]);
    // With a full map (the transaction path), a limit set at run time; an exe not read this time
    // does not erase the known one.
    await ingestSnapshot(t.db, at(3, { ...python, exe: undefined, memoryLimitKb: 102_400 }, true), {
      nowMs: T0,
    });
    expect(await row()).toEqual(['python3', 'python3 app.py', '/usr/bin/python3.11', 102_400]);
    const [host] = await t.db.select().from(hosts).where(eq(hosts.name, 'exec-1'));
    const blocks = await readBlocks(t.db, host?.id ?? -1, T0, T0 + 4 * 30_000);
    expect(blocks.map((b) => b.isKeyframe)).toEqual([true, false, false]);

    // A command line rewritten in place (setproctitle), name and limit unchanged: both paths.
    const titled = (i: number, cmdline: string, mapped = false) => {
      const s = at(
        i,
        { pid: 901, comm: 'postgres', cmdline, exe: '/usr/lib/postgresql/15/bin/postgres' },
        mapped,
      );
      s.host = { ...s.host, name: 'title-1' };
      return s;
    };
    const title = async () =>
      (await t.db.select().from(incarnations).where(eq(incarnations.pid, 901)))[0]?.cmdline;
    await ingestSnapshot(t.db, titled(1, '/usr/lib/postgresql/15/bin/postgres -D /srv'), {
      nowMs: T0,
    });
    await ingestSnapshot(t.db, titled(2, 'postgres: checkpointer'), { nowMs: T0 });
    expect(await title()).toBe('postgres: checkpointer');
    await ingestSnapshot(t.db, titled(3, 'postgres: walwriter', true), { nowMs: T0 });
    expect(await title()).toBe('postgres: walwriter');
  });

  it('stores concurrent pushes of many hosts, re-sends among them, each exactly once', async () => {
    const base = T0 + 2 * 3_600_000;
    const names = Array.from({ length: 8 }, (_, i) => `conc-${i}`);
    const make = (name: string, i: number) =>
      snap(i, (s) => {
        s.host.name = name;
        s.takenAtMs = base + i * 30_000;
      });
    for (const n of names) await ingestSnapshot(t.db, make(n, 0));
    const sent = names.flatMap((n) => Array.from({ length: 5 }, (_, i) => make(n, i + 1)));
    const resent = sent.filter((_, i) => i % 3 === 0).map((s) => structuredClone(s));
    const results = await Promise.all([...sent, ...resent].map((s) => ingestSnapshot(t.db, s)));
    const stored = results.filter((r) => !r.duplicate).map((r) => r.snapshotId);
    expect(stored.sort()).toEqual(sent.map((s) => s.snapshotId).sort());
    expect(results.filter((r) => r.duplicate)).toHaveLength(resent.length);
    for (const n of names) {
      const [host] = await t.db.select().from(hosts).where(eq(hosts.name, n));
      expect(host).toMatchObject({ lastSeenMs: base + 5 * 30_000, processCount: 2 });
      const blocks = await readBlocks(t.db, host?.id ?? 0, base, base + 3_600_000);
      expect(blocks.map((b) => b.samples[0]?.status.rssAnonKb)).toEqual(
        [0, 1, 2, 3, 4, 5].map((i) => 700_000 + i * 8),
      );
    }
  });

  it('merges the parts of a split snapshot into one point in time', async () => {
    const takenAtMs = T0 + 3_600_000;
    const a = snap(0, (s) => {
      s.takenAtMs = takenAtMs;
      s.processes = [exampleProcess({ pid: 10 })];
    });
    const b = snap(0, (s) => {
      s.takenAtMs = takenAtMs;
      s.processes = [exampleProcess({ pid: 11 }), exampleProcess({ pid: 12 })];
    });
    await ingestSnapshot(t.db, a, { nowMs: T0 });
    await ingestSnapshot(t.db, b, { nowMs: T0 });
    const [host] = await t.db.select().from(hosts).where(eq(hosts.name, 'web-07'));
    expect(host?.processCount).toBe(3);
    expect(host?.lastSeenMs).toBe(takenAtMs);
    const latest = await readLatestBlocks(t.db, host?.id ?? 0);
    expect(latest.flatMap((x) => x.samples.map((s) => s.pid)).sort()).toEqual([10, 11, 12]);
  });

  it('creates upcoming partitions and drops expired ones; ingest recreates what it needs', async () => {
    const now = T0 + 40 * 86_400_000;
    const r = await maintainPartitions(t.db, { nowMs: now });
    expect(r.created).toContain('sample_blocks_p20270102');
    expect(r.dropped).toContain('sample_blocks_p20261123');
    expect(r.dropped).not.toContain('aggregates_1h_p202611');
    expect(r.incarnationsDeleted).toBe(0);
    const muchLater = await maintainPartitions(t.db, { nowMs: T0 + 500 * 86_400_000 });
    expect(muchLater.dropped).toContain('aggregates_1h_p202611');
    expect(muchLater.incarnationsDeleted).toBeGreaterThan(0);
    expect(await countRows('sample_blocks')).toBe(0);
    // a late replay of an expired day is refused: it would be dropped again within the hour
    await expect(ingestSnapshot(t.db, snap(2), { nowMs: now })).rejects.toThrow(
      /older than this server keeps samples \(14 days: from 2026-12-19T00:00:00.000Z on\)/,
    );
    expect(await countRows('sample_blocks')).toBe(0);
    // a replica that keeps samples longer stores it: the dropped partition is made again
    const longer = { nowMs: now, retention: { samplesDays: 60 } };
    const late = await ingestSnapshot(t.db, snap(2), longer);
    expect(late.duplicate).toBe(false);
    const lateAgain = await ingestSnapshot(t.db, snap(3), longer);
    expect(lateAgain.duplicate).toBe(false);
    // both decode: neither refers to a keyframe that went with the dropped partition
    const [host] = await t.db.select().from(hosts).where(eq(hosts.name, 'web-07'));
    const back = await readBlocks(t.db, host?.id ?? 0, T0, T0 + 86_400_000);
    expect(back.map((b) => b.samples.length)).toEqual([2, 2]);
  });

  it('refuses a snapshot from before the oldest kept day, and takes one from that day', async () => {
    const now = Date.UTC(2026, 11, 20, 15, 30);
    const day = (iso: string, i: number) =>
      snap(i, (s) => {
        s.takenAtMs = Date.parse(iso);
      });
    const retention = { samplesDays: 3 };
    // the cutoff is 2026-12-17T15:30: that day's partition stays until it has wholly passed
    const kept = await ingestSnapshot(t.db, day('2026-12-17T00:00:00Z', 1), {
      nowMs: now,
      retention,
    });
    expect(kept.duplicate).toBe(false);
    await expect(
      ingestSnapshot(t.db, day('2026-12-16T23:59:59.999Z', 2), { nowMs: now, retention }),
    ).rejects.toThrow(/2026-12-16T23:59:59.999Z is older than this server keeps samples \(3 days/);
    await ensurePartitionsFor(t.db, Date.parse('2026-12-16T12:00:00Z')); // stored before
    const r = await maintainPartitions(t.db, { nowMs: now, retention });
    expect(r.dropped).not.toContain('sample_blocks_p20261217');
    expect(r.dropped).toContain('sample_blocks_p20261216');
  });

  it('issues, verifies, lists and revokes tokens, storing only hashes', async () => {
    const admin = await createToken(t.db, { role: 'admin', note: 'first' });
    const agent = await createToken(t.db, { role: 'agent', hostName: 'web-07' });
    await expect(createToken(t.db, { role: 'agent' })).rejects.toThrow(/host name/);
    await expect(createToken(t.db, { role: 'reader', hostName: 'x' })).rejects.toThrow();
    expect(await verifyToken(t.db, agent.token)).toMatchObject({
      role: 'agent',
      hostName: 'web-07',
    });
    const tampered = agent.token.slice(0, -1) + (agent.token.endsWith('A') ? 'B' : 'A');
    expect(await verifyToken(t.db, tampered)).toBeNull();
    expect(await verifyToken(t.db, 'garbage')).toBeNull();
    const stored = await queryRows<{ hash: Uint8Array }>(t.db, sql`select hash from api_tokens`);
    const dump = JSON.stringify(stored);
    expect(dump).not.toContain(admin.token.slice(4));
    expect((await listTokens(t.db)).map((x) => x.prefix)).toEqual([admin.prefix, agent.prefix]);
    expect(await revokeToken(t.db, agent.prefix)).toMatchObject({ id: agent.id });
    expect(await verifyToken(t.db, agent.token)).toBeNull();
    expect((await listTokens(t.db)).map((x) => x.id)).toEqual([admin.id]);
    expect(await revokeToken(t.db, 'fpm_')).toBeNull();
  });
});
