import { rm } from 'node:fs/promises';
import { parseSnapshot, type Snapshot } from '@fleetpmap/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.ts';
import { procfsSource } from './proc-source.ts';
import { copyFixtureTree, FakeClock } from './test-support.ts';

const tiers = {
  rollupIntervalMs: 300_000,
  fullIntervalMs: 900_000,
  growthTriggerKb: 1024,
  readBudgetMs: 200,
  cycleBudgetMs: 5_000,
  maxRssKb: 1e9,
  maxMappings: 1e9,
  maxBackoffLevel: 5,
};

describe('Agent cycles on a fixture proc tree', () => {
  let root: string;
  beforeEach(async () => {
    root = await copyFixtureTree();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  function agent(out: Snapshot[], extra: { maxBodyBytes?: number } = {}) {
    return new Agent({
      source: procfsSource({ procRoot: root }),
      clock: new FakeClock(),
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
});
