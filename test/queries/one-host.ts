import { randomUUID } from 'node:crypto';
import { createQueryServices, refreshVerdicts } from '@fleetpmap/api';
import {
  createTestDb,
  ingestSnapshot,
  rollupAggregates,
  schema,
  type TestDb,
  type TestDriver,
} from '@fleetpmap/db';
import { exampleProcess, exampleSnapshot, type ProcessRecord } from '@fleetpmap/protocol';
import { afterAll, beforeAll, expect } from 'vitest';

export const STEP_MS = 5 * 60_000;

/** A process known by its anonymous memory only, named after its binary. */
export function anonProcess(pid: number, exe: string, anonKb: number): ProcessRecord {
  return exampleProcess({
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
}

/**
 * One host's snapshots every 5 minutes over `hours` ending at `endMs`, oldest first;
 * `processesAt(i, t)` gives the processes of the i-th snapshot, taken at t.
 */
export function hostSnapshots(
  host: string,
  endMs: number,
  hours: number,
  processesAt: (i: number, t: number) => ProcessRecord[],
) {
  const base = exampleSnapshot();
  const steps = (hours * 3_600_000) / STEP_MS;
  return Array.from({ length: steps }, (_, i) => {
    const t = endMs - (steps - 1 - i) * STEP_MS;
    return {
      ...base,
      snapshotId: randomUUID(),
      takenAtMs: t,
      host: { ...base.host, name: host },
      processes: processesAt(i, t),
    };
  });
}

/** A fresh database per driver holding `snapshots`, ingested and rolled up before the tests. */
export function useHostDb(driver: TestDriver, snapshots: () => ReturnType<typeof hostSnapshots>) {
  const state: { t?: TestDb } = {};
  beforeAll(async () => {
    state.t = await createTestDb(driver);
    for (const s of snapshots()) await ingestSnapshot(state.t.db, s);
    await rollupAggregates(state.t.db, { settleMs: 0 });
  }, 300_000);
  afterAll(async () => {
    await state.t?.[Symbol.asyncDispose]();
  });
  return () => {
    if (!state.t) throw new Error('the database is not set up yet');
    return state.t;
  };
}

/** `top --all` rows as "comm VERDICT", sorted: what a reader of the table sees. */
export const verdictList = (rows: { comm: string; leak: boolean; reason: string }[]) =>
  rows.map((r) => `${r.comm} ${r.leak ? 'LEAK' : r.reason}`).sort();

/**
 * Refreshes `windowsMs` in one pass of the server's job and checks that `top` then answers from
 * the stored verdicts exactly what it scored live; returns the stored answers per window.
 */
export async function expectStoredAsLive(t: TestDb, nowMs: number, windowsMs: number[]) {
  const services = createQueryServices(t.db, () => nowMs);
  const top = () =>
    Promise.all(
      windowsMs.map((windowMs) => services.top({ windowMs, metric: 'anon', limit: 10, all: true })),
    );
  const live = await top();
  const done = await refreshVerdicts(t.db, { windowsMs, metrics: ['anon'] }, { nowMs });
  expect(done.map((d) => d.windowMs)).toEqual(windowsMs);
  const stored = await top();
  expect(stored).toEqual(live);
  await t.db.delete(schema.verdictRuns);
  return stored;
}
