import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildLeakReport } from '@fleetpmap/analysis';
import {
  claimReportSlot,
  createDb,
  type Db,
  finishReport,
  getReport,
  liveReceiverLeases,
  schema,
  testDrivers,
} from '@fleetpmap/db';
import { useTestDb } from '@fleetpmap/db/use-test-db';
import { Cron } from 'croner';
import { afterEach, describe, expect, it } from 'vitest';
import { CATCH_UP_MS, createReportTick, dueSlot, type ReportTickOutcome } from './scheduler.ts';
import { DELIVERY_BACKOFF_MS } from './webhook.ts';

const MINUTE = 60_000;
const DAY_MS = 24 * 60 * MINUTE;
const T0 = Date.UTC(2026, 10, 24, 6, 0, 0);

describe('dueSlot', () => {
  const daily = new Cron('0 6 * * *', { paused: true, timezone: 'UTC' });
  const six = Date.UTC(2026, 10, 24, 6, 0, 0);

  it("is the day's 06:00 from 06:00 until an hour later, then nothing until the next day", () => {
    expect(dueSlot(daily, six)).toBe(six);
    expect(dueSlot(daily, six + 59 * MINUTE)).toBe(six);
    expect(dueSlot(daily, six + CATCH_UP_MS)).toBe(six);
    expect(dueSlot(daily, six + CATCH_UP_MS + 1000)).toBeUndefined();
    expect(dueSlot(daily, six - 1000)).toBeUndefined();
    expect(dueSlot(daily, six + 24 * 60 * MINUTE)).toBe(six + 24 * 60 * MINUTE);
  });

  it("reads the pattern in the schedule's time zone, summer time included", () => {
    const berlin = new Cron('0 6 * * *', { paused: true, timezone: 'Europe/Berlin' });
    // 06:00 in Berlin is 05:00 UTC in November (CET) and 04:00 UTC in July (CEST)
    expect(dueSlot(berlin, Date.UTC(2026, 10, 24, 5, 30))).toBe(Date.UTC(2026, 10, 24, 5, 0));
    expect(dueSlot(berlin, Date.UTC(2026, 6, 1, 4, 10))).toBe(Date.UTC(2026, 6, 1, 4, 0));
    expect(dueSlot(berlin, Date.UTC(2026, 10, 24, 6, 30))).toBeUndefined();
  });

  it('takes the newest slot of a frequent schedule', () => {
    const quarterly = new Cron('*/15 * * * *', { paused: true, timezone: 'UTC' });
    expect(dueSlot(quarterly, six + 44 * MINUTE)).toBe(six + 30 * MINUTE);
  });
});

/**
 * How late this process may read the end of a request whose sender gave up on it: far below any
 * timeout these tests use, so a third request sent while two still hang overlaps them for seconds.
 */
const CLOSE_SEEN_LATE_MS = 100;

/** A loopback receiver that holds every request while `hang` is set, and answers 204 otherwise. */
async function receiver() {
  const state = {
    hang: false,
    url: '',
    /** requests in flight now */
    get inFlight() {
      return open.size;
    },
    /**
     * The most requests in flight at once, each counted from its arrival. One its sender gave up
     * on (a timeout) ended then, although this process may read its socket's end only after the
     * sender's next request has arrived over a new connection: such an end seen within
     * `CLOSE_SEEN_LATE_MS` of another request's arrival does not overlap it.
     */
    get mostAtOnce() {
      let most = 0;
      for (const { atMs, openBefore } of arrivals) {
        const overlapping = openBefore.filter((k) => {
          const droppedAt = droppedBySender.get(k);
          return droppedAt === undefined || droppedAt - atMs > CLOSE_SEEN_LATE_MS;
        });
        most = Math.max(most, overlapping.length + 1);
      }
      return most;
    },
    /** report ids in the order they arrived, and those answered 204 */
    arrived: [] as number[],
    answered: [] as number[],
    /** ms from `since` to the first arrival */
    firstAtMs: undefined as number | undefined,
    since: 0,
  };
  const held: ServerResponse[] = [];
  /** Requests open now, by arrival number; every arrival with those open before it. */
  const open = new Set<number>();
  const arrivals: { atMs: number; openBefore: number[] }[] = [];
  /** When the requests that ended without an answer were seen to end. */
  const droppedBySender = new Map<number, number>();
  const server = createServer((req, res) => {
    const id = Number(req.headers['x-fleetpmap-report-id']);
    state.arrived.push(id);
    const atMs = performance.now();
    state.firstAtMs ??= atMs - state.since;
    const k = arrivals.length;
    arrivals.push({ atMs, openBefore: [...open] });
    open.add(k);
    res.on('close', () => {
      open.delete(k);
      if (!res.writableEnded) droppedBySender.set(k, performance.now());
    });
    req.resume();
    if (state.hang) {
      held.push(res);
      return;
    }
    req.on('end', () => {
      state.answered.push(id);
      res.writeHead(204).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    state,
    close: () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

/** Stores a finished report of `schedule`, due for delivery at `dueMs`; returns its id. */
async function queueReport(db: Db, schedule: string, slotMs: number, dueMs: number) {
  const claim = await claimReportSlot(db, {
    schedule,
    slotMs,
    windowMs: DAY_MS,
    metric: 'anon',
    claimedBy: 'x:0',
    nowMs: dueMs,
    staleAfterMs: MINUTE,
    retryAfterMs: MINUTE,
    maxAttempts: 1,
  });
  if (!claim) throw new Error('no claim');
  const body = buildLeakReport([], {
    generatedAtMs: dueMs,
    windowMs: DAY_MS,
    toMs: slotMs,
    metric: 'anon',
  });
  const totals = { hosts: 0, processes: 0, leakingHosts: 0, leakingProcesses: 0 };
  await finishReport(db, claim.id, {
    claimedBy: 'x:0',
    generatedAtMs: dueMs,
    body,
    totals: { ...totals, newLeaks: null },
    deliver: true,
  });
  return claim.id;
}

for (const driver of testDrivers()) {
  describe(`webhook deliveries per receiver (${driver})`, () => {
    const t = useTestDb(driver);
    const db = () => t.db;
    afterEach(async () => {
      await db().delete(schema.leakReports);
    });

    const queue = (schedule: string, slotMs: number, dueMs: number) =>
      queueReport(db(), schedule, slotMs, dueMs);

    it('serves a healthy receiver at once while another hangs with four reports queued, and sends those later, in order, each once', async () => {
      const timeoutMs = 3_000;
      const slow = await receiver();
      const fast = await receiver();
      try {
        slow.state.hang = true;
        const dueMs = T0 + 10 * MINUTE;
        // queued first, so that four workers taking the oldest due would all take these
        const slowIds: number[] = [];
        for (const k of [4, 3, 2, 1])
          slowIds.push(await queue('slow-team', T0 - k * DAY_MS, dueMs));
        const fastId = await queue('fast-team', T0, dueMs);
        let clock = dueMs + 10;
        const tick = createReportTick(db(), [], {
          webhooks: {
            bySchedule: new Map([
              ['slow-team', { url: slow.state.url }],
              ['fast-team', { url: fast.state.url }],
            ]),
          },
          nowMs: () => clock,
          webhookTimeoutMs: timeoutMs,
        });
        const startedMs = performance.now();
        fast.state.since = startedMs;
        const first = await tick();
        const tickMs = performance.now() - startedMs;
        console.log(
          `healthy receiver answered after ${fast.state.firstAtMs?.toFixed(0)} ms; the hanging one had ${slow.state.mostAtOnce} request(s) at once; the tick took ${tickMs.toFixed(0)} ms (timeout ${timeoutMs} ms)`,
        );
        expect(fast.state.answered).toEqual([fastId]);
        expect(fast.state.firstAtMs).toBeLessThan(timeoutMs / 3);
        // one slot held by the hanging receiver, for its oldest report only
        expect(slow.state.mostAtOnce).toBe(1);
        expect(slow.state.arrived).toEqual([slowIds[0]]);
        expect(first).toEqual({ built: [], delivered: [fastId], failedDeliveries: [slowIds[0]] });
        // the one it was sent is due again after the backoff, the other three are due as they were
        const rows = await Promise.all(slowIds.map((id) => getReport(db(), id)));
        expect(rows.map((r) => [r?.delivery, r?.deliveryAttempts, r?.deliveryError])).toEqual([
          ['pending', 1, `no answer within ${timeoutMs / 1000} s`],
          ['pending', 0, null],
          ['pending', 0, null],
          ['pending', 0, null],
        ]);
        expect(rows[0]?.deliveryNextAtMs).toBe(clock + (DELIVERY_BACKOFF_MS[0] ?? 0));
        expect(rows.slice(1).map((r) => r?.deliveryNextAtMs)).toEqual([dueMs, dueMs, dueMs]);

        // It answers again: the next tick sends the three still due, one at a time and in order,
        // and the first after its backoff.
        slow.state.hang = false;
        clock += 30_000;
        expect(await tick()).toEqual({
          built: [],
          delivered: slowIds.slice(1),
          failedDeliveries: [],
        });
        clock += DELIVERY_BACKOFF_MS[0] ?? 0;
        expect(await tick()).toEqual({ built: [], delivered: [slowIds[0]], failedDeliveries: [] });
        expect(await tick()).toEqual({ built: [], delivered: [], failedDeliveries: [] });
        expect(slow.state.answered).toEqual([...slowIds.slice(1), slowIds[0]]);
        expect(slow.state.mostAtOnce).toBe(1);
        expect(fast.state.arrived).toEqual([fastId]);
        const done = await Promise.all([...slowIds, fastId].map((id) => getReport(db(), id)));
        expect(done.map((r) => r?.delivery)).toEqual(Array(5).fill('delivered'));
      } finally {
        slow.close();
        fast.close();
      }
    });

    it('lets a host that hangs on all its webhooks hold two slots, not all four', async () => {
      const timeoutMs = 2_000;
      const slow = await receiver();
      const fast = await receiver();
      try {
        slow.state.hang = true;
        const dueMs = T0 + 20 * MINUTE;
        const teams = ['a', 'b', 'c'];
        const slowIds: number[] = [];
        for (const team of teams) slowIds.push(await queue(team, T0, dueMs));
        const fastId = await queue('fast-team', T0, dueMs);
        const tick = createReportTick(db(), [], {
          webhooks: {
            bySchedule: new Map([
              ...teams.map((team) => [team, { url: `${slow.state.url}/${team}` }] as const),
              ['fast-team', { url: fast.state.url }],
            ]),
          },
          nowMs: () => dueMs + 10,
          webhookTimeoutMs: timeoutMs,
        });
        fast.state.since = performance.now();
        const outcome = await tick();
        console.log(
          `healthy receiver answered after ${fast.state.firstAtMs?.toFixed(0)} ms; the hanging host had ${slow.state.mostAtOnce} requests at once`,
        );
        expect(fast.state.firstAtMs).toBeLessThan(timeoutMs / 3);
        expect(slow.state.mostAtOnce).toBe(2);
        // each of its webhooks was tried once, the third when a slot of the host came free
        expect([...slow.state.arrived].sort()).toEqual([...slowIds].sort());
        expect(slow.state.arrived[2]).toBe(slowIds[2]);
        expect(outcome.delivered).toEqual([fastId]);
        expect(outcome.failedDeliveries.sort()).toEqual([...slowIds].sort());
      } finally {
        slow.close();
        fast.close();
      }
    });

    it('cuts a hanging send short at shutdown, leaving it due at once and the next one as it was', async () => {
      const slow = await receiver();
      try {
        slow.state.hang = true;
        const dueMs = T0 + 30 * MINUTE;
        const ids = [await queue('slow-team', T0, dueMs), await queue('slow-team', T0 + 1, dueMs)];
        const tick = createReportTick(db(), [], {
          webhooks: { fallback: { url: slow.state.url } },
          nowMs: () => dueMs + 10,
          webhookTimeoutMs: 30_000,
        });
        const stop = new AbortController();
        const running = tick(stop.signal);
        while (slow.state.arrived.length === 0) await sleep(5);
        const stoppedMs = performance.now();
        stop.abort();
        expect(await running).toEqual({ built: [], delivered: [], failedDeliveries: [ids[0]] });
        expect(performance.now() - stoppedMs).toBeLessThan(5_000);
        expect(slow.state.arrived).toEqual([ids[0]]);
        const rows = await Promise.all(ids.map((id) => getReport(db(), id)));
        expect(rows.map((r) => [r?.delivery, r?.deliveryAttempts, r?.deliveryNextAtMs])).toEqual([
          ['pending', 1, dueMs + 10],
          ['pending', 0, dueMs],
        ]);
        expect(rows[0]?.deliveryError).toBe('cut short: the server was shutting down');
      } finally {
        slow.close();
      }
    });
  });

  describe(`webhook deliveries across replicas (${driver})`, () => {
    const t = useTestDb(driver);
    afterEach(async () => {
      await t.db.delete(schema.leakReports);
    });

    /**
     * Two replicas' views of the test database: on Postgres, two handles with pools of their
     * own, as two server processes have; PGlite is one process's database, so both share it.
     */
    const twoReplicas = async () => {
      const other =
        driver === 'postgres' ? await createDb(t.handle.url, { maxConnections: 4 }) : undefined;
      return {
        dbs: [t.db, other?.db ?? t.db] as const,
        close: async () => {
          await other?.close();
        },
      };
    };

    const merged = (outcomes: ReportTickOutcome[]) => ({
      delivered: outcomes.flatMap((o) => o.delivered).sort(),
      failedDeliveries: outcomes.flatMap((o) => o.failedDeliveries).sort(),
    });

    it('sends a hanging receiver one report at a time over both replicas, and a healthy one its report at once', async () => {
      const timeoutMs = 3_000;
      const slow = await receiver();
      const fast = await receiver();
      const replicas = await twoReplicas();
      try {
        slow.state.hang = true;
        const dueMs = T0 + 40 * MINUTE;
        const slowIds: number[] = [];
        for (const k of [4, 3, 2, 1])
          slowIds.push(await queueReport(t.db, 'slow-team', T0 - k * DAY_MS, dueMs));
        const fastId = await queueReport(t.db, 'fast-team', T0, dueMs);
        let clock = dueMs + 10;
        const webhooks = {
          bySchedule: new Map([
            ['slow-team', { url: slow.state.url }],
            ['fast-team', { url: fast.state.url }],
          ]),
        };
        const ticks = replicas.dbs.map((replicaDb, n) =>
          createReportTick(replicaDb, [], {
            webhooks,
            claimedBy: `replica-${n}`,
            nowMs: () => clock,
            webhookTimeoutMs: timeoutMs,
          }),
        );
        fast.state.since = performance.now();
        const first = merged(await Promise.all(ticks.map((tick) => tick())));
        console.log(
          `two replicas: healthy receiver answered after ${fast.state.firstAtMs?.toFixed(0)} ms; the hanging one had ${slow.state.mostAtOnce} request(s) at once, ${slow.state.arrived.length} in all`,
        );
        expect(slow.state.mostAtOnce).toBe(1);
        expect(slow.state.arrived).toEqual([slowIds[0]]);
        expect(fast.state.answered).toEqual([fastId]);
        expect(fast.state.firstAtMs).toBeLessThan(timeoutMs / 3);
        expect(first).toEqual({ delivered: [fastId], failedDeliveries: [slowIds[0]] });
        expect(await liveReceiverLeases(t.db, clock)).toEqual(new Map());

        // It answers again: the three still due go out one at a time, oldest first, each once,
        // whichever replica sends them.
        slow.state.hang = false;
        clock += 30_000;
        const second = merged(await Promise.all(ticks.map((tick) => tick())));
        expect(second).toEqual({ delivered: slowIds.slice(1).sort(), failedDeliveries: [] });
        expect(slow.state.answered).toEqual(slowIds.slice(1));
        expect(slow.state.mostAtOnce).toBe(1);
        expect(await liveReceiverLeases(t.db, clock)).toEqual(new Map());
      } finally {
        slow.close();
        fast.close();
        await replicas.close();
      }
    });

    it('lets a host that hangs on all its webhooks hold two deliveries over both replicas', async () => {
      const timeoutMs = 2_000;
      const slow = await receiver();
      const fast = await receiver();
      const replicas = await twoReplicas();
      try {
        slow.state.hang = true;
        const dueMs = T0 + 50 * MINUTE;
        const teams = ['a', 'b', 'c', 'd'];
        const slowIds: number[] = [];
        for (const team of teams) slowIds.push(await queueReport(t.db, team, T0, dueMs));
        const fastId = await queueReport(t.db, 'fast-team', T0, dueMs);
        const webhooks = {
          bySchedule: new Map([
            ...teams.map((team) => [team, { url: `${slow.state.url}/${team}` }] as const),
            ['fast-team', { url: fast.state.url }],
          ]),
        };
        const ticks = replicas.dbs.map((replicaDb, n) =>
          createReportTick(replicaDb, [], {
            webhooks,
            claimedBy: `replica-${n}`,
            nowMs: () => dueMs + 10,
            webhookTimeoutMs: timeoutMs,
          }),
        );
        fast.state.since = performance.now();
        const outcome = merged(await Promise.all(ticks.map((tick) => tick())));
        console.log(
          `two replicas: healthy receiver answered after ${fast.state.firstAtMs?.toFixed(0)} ms; the hanging host had ${slow.state.mostAtOnce} requests at once`,
        );
        expect(slow.state.mostAtOnce).toBe(2);
        expect(fast.state.firstAtMs).toBeLessThan(timeoutMs / 3);
        expect(fast.state.arrived).toEqual([fastId]);
        // each of its webhooks tried once, by one replica or the other
        expect([...slow.state.arrived].sort()).toEqual([...slowIds].sort());
        expect(outcome).toEqual({ delivered: [fastId], failedDeliveries: [...slowIds].sort() });
      } finally {
        slow.close();
        fast.close();
        await replicas.close();
      }
    });

    it('leaves a receiver to another replica once the lease of one that died mid-delivery runs out', async () => {
      const slow = await receiver();
      const replicas = await twoReplicas();
      try {
        slow.state.hang = true;
        const dueMs = T0 + 60 * MINUTE;
        const ids: number[] = [];
        for (const k of [3, 2, 1])
          ids.push(await queueReport(t.db, 'slow-team', T0 - k * DAY_MS, dueMs));
        let clock = dueMs + 10;
        const webhooks = { fallback: { url: slow.state.url } };
        // The dying replica waits up to a minute for an answer: its lease is that and a margin.
        const dyingTimeoutMs = 60_000;
        const dying = mortal(replicas.dbs[0]);
        const dyingStop = new AbortController();
        const running = createReportTick(dying.db, [], {
          webhooks,
          claimedBy: 'replica-dying',
          nowMs: () => clock,
          webhookTimeoutMs: dyingTimeoutMs,
        })(dyingStop.signal);
        while (slow.state.arrived.length === 0) await sleep(5);
        // It is gone: its connection to the receiver closes, and it writes nothing more.
        dying.die();
        dyingStop.abort();
        await expect(running).rejects.toThrow('this replica is gone');
        // What it left: its receiver's leases, named by hashes, not by the URL.
        const left = [...(await liveReceiverLeases(t.db, clock))].filter(([, holder]) =>
          holder.startsWith('replica-dying'),
        );
        expect(left.map(([key]) => key.replace(/[0-9a-f]{64}/, '…')).sort()).toEqual([
          'origin:…#0',
          'url:…',
        ]);
        expect(JSON.stringify(left)).not.toContain('127.0.0.1');
        while (slow.state.inFlight > 0) await sleep(5);
        slow.state.hang = false;

        const survivor = createReportTick(replicas.dbs[1], [], {
          webhooks,
          claimedBy: 'replica-surviving',
          nowMs: () => clock,
          webhookTimeoutMs: 3_000,
        });
        // Within the dead replica's lease the receiver is left alone, its other reports too.
        clock += dyingTimeoutMs;
        expect(await survivor()).toEqual({ built: [], delivered: [], failedDeliveries: [] });
        expect(slow.state.arrived).toEqual([ids[0]]);
        // Past it, the survivor sends all three, one at a time; the one the dead replica was
        // sending comes last, its own lease having moved it behind the others.
        clock += 30_000;
        const after = await survivor();
        console.log(
          `a replica died mid-delivery: the survivor sent ${after.delivered.length} report(s) once its lease ran out, ${slow.state.mostAtOnce} at once`,
        );
        expect(after).toEqual({
          built: [],
          delivered: [ids[1], ids[2], ids[0]],
          failedDeliveries: [],
        });
        expect(slow.state.answered).toEqual([ids[1], ids[2], ids[0]]);
        expect(slow.state.mostAtOnce).toBe(1);
      } finally {
        slow.close();
        await replicas.close();
      }
    });
  });
}

/**
 * `db` as one replica sees it until `die()`; from then on every use of it throws, as for a
 * server process that is gone: whatever it held in the database stays as it left it.
 */
function mortal(db: Db): { db: Db; die(): void } {
  let dead = false;
  const view = new Proxy(db, {
    get(target, key) {
      if (dead) throw new Error('this replica is gone');
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    db: view,
    die: () => {
      dead = true;
    },
  };
}
