import { describe, expect, it, vi } from 'vitest';
import { maintainPartitions } from './partitions.ts';
import {
  type ClaimOptions,
  claimDelivery,
  claimReportSlot,
  dueDeliverySchedules,
  failReport,
  finishReport,
  getReport,
  insertManualReport,
  listReports,
  previousReport,
  recordDelivery,
} from './reports.ts';
import { testDrivers } from './test-db.ts';
import { useTestDb } from './use-test-db.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const T0 = Date.UTC(2026, 10, 24, 6, 0, 0);
const MINUTE = 60_000;
const DAY_MS = 24 * 60 * MINUTE;
const TOTALS = { hosts: 3, processes: 30, leakingHosts: 1, leakingProcesses: 2, newLeaks: null };

function claim(over: Partial<ClaimOptions>): ClaimOptions {
  return {
    schedule: 'daily',
    slotMs: T0,
    windowMs: 86_400_000,
    metric: 'anon',
    claimedBy: 'a:1',
    nowMs: T0,
    staleAfterMs: 15 * MINUTE,
    retryAfterMs: MINUTE,
    maxAttempts: 3,
    ...over,
  };
}

describe.each(testDrivers())('leak reports on %s', (driver) => {
  const t = useTestDb(driver);

  it('lets exactly one of many replicas claim a slot, however many ask at once', async () => {
    const slotMs = T0 + 1000;
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        claimReportSlot(t.db, claim({ slotMs, claimedBy: `r:${i}` })),
      ),
    );
    expect(claims.filter((c) => c !== undefined)).toHaveLength(1);
    // and again later, once it is done: nothing more to do for that slot
    const id = claims.find((c) => c !== undefined)?.id ?? -1;
    const holder = `r:${claims.findIndex((c) => c !== undefined)}`;
    expect(
      await finishReport(t.db, id, {
        claimedBy: holder,
        generatedAtMs: slotMs + 5000,
        body: { leaks: [] },
        totals: TOTALS,
        deliver: false,
      }),
    ).toBe(true);
    expect(await claimReportSlot(t.db, claim({ slotMs, nowMs: slotMs + 60 * MINUTE }))).toBe(
      undefined,
    );
    expect(await getReport(t.db, id)).toMatchObject({
      state: 'done',
      body: { leaks: [] },
      hosts: 3,
    });
  });

  it('takes over a build whose server died, and gives up after the attempts are spent', async () => {
    const slotMs = T0 + 2000;
    const first = await claimReportSlot(t.db, claim({ slotMs, claimedBy: 'dead:1' }));
    expect(first?.attempts).toBe(1);
    // not yet stale: the build may still be running
    expect(await claimReportSlot(t.db, claim({ slotMs, nowMs: slotMs + 14 * MINUTE }))).toBe(
      undefined,
    );
    const second = await claimReportSlot(
      t.db,
      claim({ slotMs, claimedBy: 'b:2', nowMs: slotMs + 16 * MINUTE }),
    );
    expect(second).toEqual({ id: first?.id, attempts: 2 });
    // the dead build's late finish must not overwrite the new holder's claim
    expect(
      await finishReport(t.db, first?.id ?? -1, {
        claimedBy: 'dead:1',
        generatedAtMs: slotMs,
        body: {},
        totals: TOTALS,
        deliver: false,
      }),
    ).toBe(false);
    await failReport(t.db, first?.id ?? -1, { claimedBy: 'b:2', error: 'database went away' });
    expect(await getReport(t.db, first?.id ?? -1)).toMatchObject({
      state: 'failed',
      error: 'database went away',
    });
    // a failed build is retried after a minute, the third and last time
    const third = await claimReportSlot(
      t.db,
      claim({ slotMs, claimedBy: 'c:3', nowMs: slotMs + 18 * MINUTE }),
    );
    expect(third?.attempts).toBe(3);
    // the third dies too: once stale it is marked failed, not claimed a fourth time
    expect(
      await claimReportSlot(t.db, claim({ slotMs, claimedBy: 'd:4', nowMs: slotMs + 40 * MINUTE })),
    ).toBe(undefined);
    expect(await getReport(t.db, first?.id ?? -1)).toMatchObject({
      state: 'failed',
      attempts: 3,
      error: 'its server stopped',
    });
  });

  it('lists newest first without bodies, finds the latest done and the previous of a schedule', async () => {
    const a = await insertManualReport(t.db, {
      windowMs: 3_600_000,
      metric: 'anon',
      claimedBy: 'm:1',
      nowMs: T0 + 10 * MINUTE,
    });
    await finishReport(t.db, a, {
      claimedBy: 'm:1',
      generatedAtMs: T0 + 10 * MINUTE,
      body: { n: 'a' },
      totals: TOTALS,
      deliver: false,
    });
    const b = await insertManualReport(t.db, {
      windowMs: 3_600_000,
      metric: 'anon',
      claimedBy: 'm:1',
      nowMs: T0 + 20 * MINUTE,
    });
    const running = await insertManualReport(t.db, {
      windowMs: 3_600_000,
      metric: 'anon',
      claimedBy: 'm:1',
      nowMs: T0 + 30 * MINUTE,
    });
    await finishReport(t.db, b, {
      claimedBy: 'm:1',
      generatedAtMs: T0 + 20 * MINUTE,
      body: { n: 'b' },
      totals: TOTALS,
      deliver: false,
    });
    const listed = await listReports(t.db, { limit: 2 });
    expect(listed.map((r) => r.id)).toEqual([running, b]);
    expect(listed[0]).not.toHaveProperty('body');
    expect((await listReports(t.db, { limit: 10, beforeId: b })).map((r) => r.id)).toContain(a);
    expect((await getReport(t.db, 'latest'))?.body).toEqual({ n: 'b' });
    expect((await previousReport(t.db, { schedule: 'manual', beforeId: running }))?.id).toBe(b);
    expect((await previousReport(t.db, { schedule: 'manual', beforeId: a }))?.id).toBe(undefined);
  });

  it('hands each pending delivery to one replica, retries it later, and records the outcome', async () => {
    const now = T0 + 100 * MINUTE;
    const ids: number[] = [];
    for (const n of [1, 2]) {
      const id = await insertManualReport(t.db, {
        windowMs: 3_600_000,
        metric: 'anon',
        claimedBy: 'm:1',
        nowMs: now,
      });
      await finishReport(t.db, id, {
        claimedBy: 'm:1',
        generatedAtMs: now + n,
        body: { n },
        totals: TOTALS,
        deliver: true,
      });
      ids.push(id);
    }
    const taken = await Promise.all(
      Array.from({ length: 6 }, () => claimDelivery(t.db, { nowMs: now + 10, leaseMs: MINUTE })),
    );
    const got = taken.filter((x) => x !== undefined);
    expect(got.map((x) => x.id).sort()).toEqual([...ids].sort());
    expect(got.map((x) => x.body)).toContainEqual({ n: 1 });
    // leased: nothing more to take until the lease ends
    expect(await claimDelivery(t.db, { nowMs: now + 20, leaseMs: MINUTE })).toBe(undefined);
    await recordDelivery(t.db, ids[0] ?? -1, { delivered: true, atMs: now + 30 });
    await recordDelivery(t.db, ids[1] ?? -1, {
      delivered: false,
      error: 'HTTP 503',
      retryAtMs: now + 5 * MINUTE,
    });
    expect(await claimDelivery(t.db, { nowMs: now + 4 * MINUTE, leaseMs: MINUTE })).toBe(undefined);
    const retry = await claimDelivery(t.db, { nowMs: now + 5 * MINUTE, leaseMs: MINUTE });
    expect(retry).toMatchObject({ id: ids[1], attempts: 2 });
    await recordDelivery(t.db, ids[1] ?? -1, {
      delivered: false,
      error: 'HTTP 503',
      retryAtMs: null,
    });
    expect(await getReport(t.db, ids[0] ?? -1)).toMatchObject({
      delivery: 'delivered',
      deliveredAtMs: now + 30,
    });
    expect(await getReport(t.db, ids[1] ?? -1)).toMatchObject({
      delivery: 'failed',
      deliveryAttempts: 2,
      deliveryError: 'HTTP 503',
    });
  });

  it('takes only the deliveries of the schedules a claim allows, oldest first', async () => {
    const now = T0 + 200 * MINUTE;
    const ids = new Map<string, number>();
    for (const [i, schedule] of ['team-a', 'team-b', 'team-c'].entries()) {
      const c = await claimReportSlot(t.db, claim({ schedule, slotMs: now, nowMs: now }));
      if (!c) throw new Error('no claim');
      await finishReport(t.db, c.id, {
        claimedBy: 'a:1',
        generatedAtMs: now + i,
        body: { schedule },
        totals: TOTALS,
        deliver: true,
      });
      ids.set(schedule, c.id);
    }
    const take = (schedules: { only: string[] } | { except: string[] }) =>
      claimDelivery(t.db, { nowMs: now + 10, leaseMs: MINUTE, schedules });
    expect(await take({ only: [] })).toBe(undefined);
    expect((await take({ except: ['team-a'] }))?.id).toBe(ids.get('team-b'));
    expect(await take({ only: ['team-a', 'team-b'] })).toMatchObject({
      id: ids.get('team-a'),
      attempts: 1,
    });
    expect(await take({ except: ['team-c'] })).toBe(undefined);
    expect((await take({ except: [] }))?.id).toBe(ids.get('team-c'));
  });

  it('lists the schedules with a delivery due, by their oldest due one, as a claim takes them', async () => {
    // before every other test's deliveries, so that only these are due
    const now = T0 - 100 * MINUTE;
    const queued: [string, number, number][] = [
      ['due-a', T0 - DAY_MS, now + 2],
      ['due-b', T0 - DAY_MS, now + 1],
      ['due-a', T0 - 2 * DAY_MS, now],
      ['due-later', T0 - DAY_MS, now + 50],
    ];
    for (const [schedule, slotMs, dueMs] of queued) {
      const c = await claimReportSlot(t.db, claim({ schedule, slotMs, nowMs: dueMs }));
      if (!c) throw new Error('no claim');
      await finishReport(t.db, c.id, {
        claimedBy: 'a:1',
        generatedAtMs: dueMs,
        body: { schedule },
        totals: TOTALS,
        deliver: true,
      });
    }
    const due = (schedules?: { only: string[] } | { except: string[] }) =>
      dueDeliverySchedules(t.db, { nowMs: now + 10, ...(schedules ? { schedules } : {}) });
    expect(await due()).toEqual(['due-a', 'due-b']);
    expect(await due({ except: ['due-a'] })).toEqual(['due-b']);
    expect(await due({ only: ['due-b', 'due-later'] })).toEqual(['due-b']);
    expect(await due({ only: [] })).toEqual([]);
    const first = await claimDelivery(t.db, { nowMs: now + 10, leaseMs: 100 * MINUTE });
    expect(first?.schedule).toBe('due-a');
    // its other report is due later than due-b's
    expect(await due()).toEqual(['due-b', 'due-a']);
  });

  it('deletes reports past their retention in the maintenance step', async () => {
    const old = await insertManualReport(t.db, {
      windowMs: 3_600_000,
      metric: 'anon',
      claimedBy: 'm:1',
      nowMs: T0 - 10 * 86_400_000,
    });
    const r = await maintainPartitions(t.db, { nowMs: T0, retention: { reportsDays: 5 } });
    expect(r.reportsDeleted).toBeGreaterThanOrEqual(1);
    expect(await getReport(t.db, old)).toBe(undefined);
    expect(await getReport(t.db, 'latest')).toBeDefined();
  });
});
