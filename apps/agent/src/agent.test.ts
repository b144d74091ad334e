import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSnapshot, type Snapshot } from '@fleetpmap/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.ts';
import { procfsSource } from './proc-source.ts';
import { copyFixtureTree, FakeClock, UNLIMITED_TIERS } from './test-support.ts';

const tiers = UNLIMITED_TIERS;

describe('Agent cycles on a fixture proc tree', () => {
  let root: string;
  beforeEach(async () => {
    root = await copyFixtureTree();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function agent(
    out: Snapshot[],
    extra: { maxBodyBytes?: number } = {},
    clock: FakeClock = new FakeClock(),
  ) {
    return new Agent({
      source: procfsSource({ procRoot: root }),
      clock,
      log: pino({ level: 'silent' }),
      tiers,
      hostName: 'fixture',
      labels: { env: 'test' },
      version: '0.1.0',
      cheapIntervalMs: 30_000,
      sink: async (parts) => {
        out.push(...parts);
      },
      ...extra,
    });
  }

  it('ships each part as it fills, with the cycle summary on the last one', async () => {
    const out: Snapshot[] = [];
    const report = await agent(out, { maxBodyBytes: 64 * 1024 }).runCycle({ forceFull: true });
    expect(out.length).toBeGreaterThan(1);
    expect(report.snapshotIds).toEqual(out.map((s) => s.snapshotId));
    expect(out.flatMap((s) => s.processes.map((p) => p.pid)).sort()).toEqual([1200, 1300, 2]);
    expect(new Set(out.map((s) => s.takenAtMs)).size).toBe(1);
    expect(out.map((s) => s.agent.collectMs !== undefined)).toEqual([
      ...out.slice(1).map(() => false),
      true,
    ]);
    for (const s of out) expect(parseSnapshot(s, { nowMs: s.takenAtMs }).ok).toBe(true);
    expect(out[0]?.host).toMatchObject({
      name: 'fixture',
      labels: { env: 'test' },
      kernel: expect.stringMatching(/^\d+\.\d+/),
      clockTicksPerSec: 100,
    });
    expect(report.result).toMatchObject({ processCount: 3, mappingCount: 37 + 105 });
  });

  it('sends one part per cycle when it fits', async () => {
    const out: Snapshot[] = [];
    await agent(out).runCycle();
    expect(out).toHaveLength(1);
    expect(out[0]?.processes).toHaveLength(3);
  });

  it('sends the boot time with every cycle, read anew, but never one after the snapshot', async () => {
    const out: Snapshot[] = [];
    const clock = new FakeClock();
    const a = agent(out, {}, clock);
    // The captured /proc/stat says the host booted at 20:26:22 UTC; the fake clock says noon.
    await a.runCycle();
    expect(out[0]?.host.bootTimeMs).toBeUndefined();
    expect(parseSnapshot(out[0], { nowMs: clock.nowMs() }).ok).toBe(true);
    clock.advance(9 * 3_600_000);
    await a.runCycle();
    expect(out[1]?.host.bootTimeMs).toBe(Date.UTC(2026, 10, 23, 20, 26, 22));
    expect(parseSnapshot(out[1], { nowMs: clock.nowMs() }).ok).toBe(true);
    // The wall clock was set back an hour: the kernel's btime moves with it, and so does the next
    // snapshot's.
    const stat = join(root, 'stat');
    const text = await readFile(stat, 'latin1');
    await writeFile(stat, text.replace(/^btime \d+$/m, 'btime 1795461982'));
    await a.runCycle();
    expect(out[2]?.host.bootTimeMs).toBe(Date.UTC(2026, 10, 23, 19, 26, 22));
    // No /proc/stat (an unusual proc tree): the snapshot is sent without a boot time.
    await rm(stat);
    await a.runCycle();
    expect(out[3]?.host).not.toHaveProperty('bootTimeMs');
    expect(out).toHaveLength(4);
  });
});
