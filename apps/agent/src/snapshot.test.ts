import { parseSnapshot } from '@fleetpmap/protocol';
import { describe, expect, it } from 'vitest';
import { Collector } from './collector.ts';
import { procfsSource } from './proc-source.ts';
import { buildSnapshots } from './snapshot.ts';
import { FakeClock, fixtureProcRoot, UNLIMITED_TIERS } from './test-support.ts';

async function fixtureCycle() {
  const source = procfsSource({ procRoot: fixtureProcRoot });
  const clock = new FakeClock();
  const c = new Collector(source, clock, UNLIMITED_TIERS);
  const result = await c.cycle({ forceFull: true });
  const host = { name: 'fixture-host', ...(await source.readHost()) };
  return { result, host, takenAtMs: clock.nowMs() };
}

const cost = {
  tiers: { cheap: { count: 0, ms: 0 }, rollup: { count: 0, ms: 0 }, full: { count: 0, ms: 0 } },
  cpuMs: 0,
  rssKb: 0,
  wireBytes: 0,
  acknowledged: 0,
  rejected: 0,
  spool: { count: 0, bytes: 0, dropped: 0 },
};

describe('buildSnapshots', () => {
  it('makes one valid protocol-v1 snapshot of a cycle', async () => {
    const { result, host, takenAtMs } = await fixtureCycle();
    const parts = buildSnapshots({
      takenAtMs,
      host,
      version: '0.1.0',
      collectMs: 12.5,
      records: result.records,
      skipped: [{ pid: 77, comm: 'x', reason: 'rollup: cycle budget of 1 ms used' }],
      cost,
    });
    expect(parts).toHaveLength(1);
    const r = parseSnapshot(parts[0], { nowMs: takenAtMs });
    expect(r.ok ? r.snapshot.processes.map((p) => p.pid) : r).toEqual([2, 1200, 1300]);
    expect(parts[0]?.agent.skipped).toEqual([
      { pid: 77, comm: 'x', reason: 'rollup: cycle budget of 1 ms used' },
    ]);
  });

  it('says which tier made each record and carries the agent cost on the wire', async () => {
    const { result, host, takenAtMs } = await fixtureCycle();
    const parts = buildSnapshots({
      takenAtMs,
      host,
      version: '0.1.0',
      collectMs: 3,
      records: result.records,
      skipped: [],
      cost: {
        ...cost,
        cpuMs: 42,
        rssKb: 51_200,
        tiers: { ...cost.tiers, full: { count: 3, ms: 9 } },
      },
    });
    const r = parseSnapshot(parts[0], { nowMs: takenAtMs });
    if (!r.ok) throw new Error(JSON.stringify(r));
    // pid 2 is a kernel thread: it only ever gets the cheap tier, even on a forced full cycle.
    expect(r.snapshot.processes.map((p) => [p.pid, p.tier])).toEqual([
      [2, 'cheap'],
      [1200, 'full'],
      [1300, 'full'],
    ]);
    expect(r.snapshot.agent.cost?.cpuMs).toBe(42);
    expect(r.snapshot.agent.cost?.tiers.full).toEqual({ count: 3, ms: 9 });
  });

  it('splits a snapshot over the body limit into parts with one takenAtMs and distinct ids', async () => {
    const { result, host, takenAtMs } = await fixtureCycle();
    const limit = 64 * 1024;
    const parts = buildSnapshots({
      takenAtMs,
      host,
      version: '0.1.0',
      collectMs: 1,
      records: result.records,
      skipped: [{ pid: 77, reason: 'x' }],
      cost,
      maxBodyBytes: limit,
    });
    expect(parts.length).toBeGreaterThan(1);
    expect(new Set(parts.map((p) => p.snapshotId)).size).toBe(parts.length);
    expect(new Set(parts.map((p) => p.takenAtMs))).toEqual(new Set([takenAtMs]));
    expect(parts.flatMap((p) => p.processes.map((x) => x.pid))).toEqual([2, 1200, 1300]);
    // The skip list is counted once, with the last part.
    expect(parts.map((p) => p.agent.skipped !== undefined)).toEqual([
      ...parts.slice(1).map(() => false),
      true,
    ]);
    for (const p of parts) {
      expect(parseSnapshot(p, { nowMs: takenAtMs }).ok).toBe(true);
      if (p.processes.length > 1) expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThan(limit);
    }
  });
});
