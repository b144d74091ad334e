import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildLeakReport, type LeakReport, WHOLE_FLEET } from '@fleetpmap/analysis';
import { createQueryServices, createReportServices, refreshVerdicts } from '@fleetpmap/api';
import { claimReportSlot, finishReport, schema, testDrivers } from '@fleetpmap/db';
import { createReportTick, DELIVERY_BACKOFF_MS, type ReportSchedule } from '@fleetpmap/server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HOUR_MS } from './fleet-history.ts';
import { anonProcess, hostSnapshots, useHostDb } from './one-host.ts';

vi.setConfig({ testTimeout: 120_000 });

const DAY_MS = 24 * HOUR_MS;
const SECRET = 'a-test-secret-of-some-length';

/** Two days before now at 06:00 UTC: the first slot; the next day's is a day later, still past. */
const SLOT_MS = Math.floor(Date.now() / DAY_MS) * DAY_MS - 2 * DAY_MS + 6 * HOUR_MS;

/** 50 hours of one host ending just after the second slot: `leaky` grows 3 %/h, `steady` wanders. */
function history() {
  const endMs = SLOT_MS + DAY_MS + 10 * 60_000;
  return hostSnapshots('web-1', endMs, 50, (i) => [
    anonProcess(700, 'leaky', 200_000 * (1 + 0.03 * (i / 12))),
    anonProcess(800, 'steady', 300_000 * (1 + 0.01 * Math.sin(i / 7))),
  ]);
}

type Received = { url: string; headers: IncomingHttpHeaders; body: string };

/** A loopback webhook receiver answering with the statuses queued (then 200). */
function useReceiver() {
  const state = { server: undefined as Server | undefined, url: '', got: [] as Received[] };
  const statuses: number[] = [];
  beforeAll(async () => {
    state.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        state.got.push({ url: req.url ?? '', headers: req.headers, body });
        res.writeHead(statuses.shift() ?? 200).end();
      });
    });
    state.server.listen(0, '127.0.0.1');
    await once(state.server, 'listening');
    state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    state.server?.close();
  });
  return { state, answer: (...s: number[]) => statuses.push(...s) };
}

/** Checks the signature as a receiver would, from the header, the raw body and the secret. */
function verify(r: Received): number {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(r.headers['x-fleetpmap-signature']));
  expect(m, 'signature header').not.toBeNull();
  const expected = createHmac('sha256', SECRET).update(`${m?.[1]}.${r.body}`).digest('hex');
  expect(m?.[2]).toBe(expected);
  return Number(m?.[1]);
}

const DAILY: ReportSchedule = {
  name: 'scheduled',
  pattern: '0 6 * * *',
  timeZone: 'UTC',
  windowMs: DAY_MS,
  metric: 'anon',
  scope: WHOLE_FLEET,
};

for (const driver of testDrivers()) {
  describe(`scheduled fleet leak reports (${driver})`, () => {
    const db = useHostDb(driver, history);
    const receiver = useReceiver();

    it('builds the slot once across two replicas, names the leak, and delivers it signed', async () => {
      const nowMs = SLOT_MS + 2 * 60_000;
      const webhook = { url: receiver.state.url, secret: SECRET };
      const replicas = ['a:1', 'b:2'].map((claimedBy) =>
        createReportTick(db().db, [DAILY], {
          webhooks: { fallback: webhook },
          claimedBy,
          nowMs: () => nowMs,
        }),
      );
      const outcomes = await Promise.all(replicas.map((tick) => tick()));
      const built = outcomes.flatMap((o) => o.built);
      expect(built).toHaveLength(1);
      // whichever replica delivered it, it was delivered once
      expect(outcomes.flatMap((o) => o.delivered)).toEqual(built);
      expect(receiver.state.got).toHaveLength(1);
      const [delivery] = receiver.state.got;
      if (!delivery) throw new Error('no delivery');
      expect(verify(delivery)).toBe(Math.floor(nowMs / 1000));
      expect(delivery.headers['x-fleetpmap-report-id']).toBe(String(built[0]));
      const payload = JSON.parse(delivery.body) as { id: number; text: string; report: LeakReport };
      expect(payload.id).toBe(built[0]);
      // the slot's window, not one ending when the report happened to be built
      expect(payload.report.window).toEqual({
        fromMs: SLOT_MS - DAY_MS,
        toMs: SLOT_MS,
        ms: DAY_MS,
      });
      expect(payload.report.generatedAtMs).toBe(nowMs);
      expect(payload.text).toContain(`24h to ${new Date(SLOT_MS).toISOString().slice(0, 16)}Z`);
      expect(payload.report.fleet).toMatchObject({
        hosts: 1,
        processes: 2,
        leakingHosts: 1,
        leakingProcesses: 1,
      });
      expect(payload.report.leaks.map((l) => [l.host, l.pid, l.comm, l.status])).toEqual([
        ['web-1', 700, 'leaky', null],
      ]);
      expect(payload.report.leaks[0]?.pctPerHour).toBeGreaterThan(1.5);
      expect(payload.report.groups.map((g) => [g.group, g.leakingHosts, g.hosts])).toEqual([
        ['/usr/bin/leaky', 1, 1],
      ]);
      expect(payload.text).toContain('leaky');
      // a later tick in the same slot makes nothing new and sends nothing again
      expect(await replicas[0]?.()).toEqual({ built: [], delivered: [], failedDeliveries: [] });
      expect(receiver.state.got).toHaveLength(1);
      const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: true });
      expect(await services.get('latest')).toMatchObject({
        id: built[0],
        schedule: 'scheduled',
        slotMs: SLOT_MS,
        delivery: 'delivered',
        deliveryAttempts: 1,
        leakingProcesses: 1,
        newLeaks: null,
      });
    });

    it("compares the next day's report with the one before, and skips a slot missed by over an hour", async () => {
      const nextSlot = SLOT_MS + DAY_MS;
      const late = createReportTick(db().db, [DAILY], { nowMs: () => nextSlot + 61 * 60_000 });
      expect((await late()).built).toEqual([]);
      const tick = createReportTick(db().db, [DAILY], { nowMs: () => nextSlot + 59 * 60_000 });
      const [built] = (await tick()).built;
      expect(built).toBeDefined();
      const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: false });
      const stored = await services.get(built ?? -1);
      expect(stored.report.changes).toMatchObject({
        newLeaks: 0,
        continuingLeaks: 1,
        resolved: [],
      });
      expect(stored.report.leaks.map((l) => l.status)).toEqual(['continuing']);
      // made 59 minutes late, it still covers the day up to its slot
      expect(stored.report.window).toEqual({
        fromMs: nextSlot - DAY_MS,
        toMs: nextSlot,
        ms: DAY_MS,
      });
      // without a webhook, nothing is queued
      expect(stored.delivery).toBe('none');
    });

    it('retries a failing receiver with backoff, then gives up and says why', async () => {
      const before = receiver.state.got.length;
      const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: true });
      const manual = await services.run({ windowMs: 6 * HOUR_MS, metric: 'anon', deliver: true });
      expect(manual).toMatchObject({ schedule: 'manual', slotMs: null, delivery: 'pending' });
      receiver.answer(503, 503, 503, 503, 503);
      // Each try is made when due; the one before a wait's end is refused.
      let due = manual.generatedAtMs ?? 0;
      let clock = due;
      const tick = createReportTick(db().db, [], {
        webhooks: { fallback: { url: receiver.state.url } },
        nowMs: () => clock,
      });
      const tries: number[] = [];
      for (const wait of [0, ...DELIVERY_BACKOFF_MS]) {
        due += wait;
        clock = due - 1000;
        expect((await tick()).failedDeliveries).toEqual([]);
        clock = due;
        tries.push(...(await tick()).failedDeliveries);
      }
      expect(tries).toEqual(Array(DELIVERY_BACKOFF_MS.length + 1).fill(manual.id));
      expect(receiver.state.got.length - before).toBe(DELIVERY_BACKOFF_MS.length + 1);
      // no signature without a secret
      expect(receiver.state.got.at(-1)?.headers['x-fleetpmap-signature']).toBeUndefined();
      clock += 10 * DAY_MS;
      expect(await tick()).toEqual({ built: [], delivered: [], failedDeliveries: [] });
      const [listed] = await services.list({ limit: 1 });
      expect(listed).toMatchObject({
        id: manual.id,
        delivery: 'failed',
        deliveryAttempts: DELIVERY_BACKOFF_MS.length + 1,
        deliveryError: 'it answered HTTP 503',
      });
    });

    it('reads the stored verdicts when they are fresh, and says what scoring live says', async () => {
      const nowMs = SLOT_MS + DAY_MS + 10 * 60_000;
      const services = createReportServices(db().db, {
        claimedBy: 'x:0',
        canDeliver: false,
        nowMs: () => nowMs,
      });
      const run = () => services.run({ windowMs: 6 * HOUR_MS, metric: 'anon', deliver: false });
      const live = (await run()).report;
      const done = await refreshVerdicts(
        db().db,
        { windowsMs: [6 * HOUR_MS], metrics: ['anon'] },
        { nowMs },
      );
      expect(done).toHaveLength(1);
      const stored = (await run()).report;
      expect(stored.fleet).toEqual(live.fleet);
      expect(stored.fleet.leakingProcesses).toBe(1);
      expect(stored.leaks.map(({ status: _s, ...l }) => l)).toEqual(
        live.leaks.map(({ status: _s, ...l }) => l),
      );
      expect(stored.groups).toEqual(live.groups);
      expect(stored.changes).toMatchObject({ continuingLeaks: 1, newLeaks: 0 });
    });

    it("makes each team's schedule over its own hosts and sends it to its own webhook", async () => {
      const slotMs = SLOT_MS + DAY_MS + 5 * 60_000;
      const team = (name: string, hostGlob: string): ReportSchedule => ({
        ...DAILY,
        name,
        pattern: '5 6 * * *',
        windowMs: 6 * HOUR_MS,
        scope: { hostGlob, labels: null },
      });
      const before = receiver.state.got.length;
      const tick = createReportTick(db().db, [team('web', 'web-*'), team('storage', 'db-*')], {
        webhooks: {
          fallback: { url: `${receiver.state.url}/all` },
          bySchedule: new Map([['web', { url: `${receiver.state.url}/web`, secret: SECRET }]]),
        },
        nowMs: () => slotMs,
      });
      const outcome = await tick();
      expect(outcome.built).toHaveLength(2);
      expect(outcome.delivered.sort()).toEqual([...outcome.built].sort());
      const got = receiver.state.got.slice(before);
      const byPath = new Map(got.map((r) => [r.url, JSON.parse(r.body) as { report: LeakReport }]));
      // the web team's report went to its own webhook, signed with its own secret; the storage
      // team has none of its own and uses the server's
      expect([...byPath.keys()].sort()).toEqual(['/hook/all', '/hook/web']);
      const web = got.find((r) => r.url === '/hook/web');
      if (web) verify(web);
      expect(byPath.get('/hook/web')?.report).toMatchObject({
        scope: { hostGlob: 'web-*', labels: null },
        fleet: { hosts: 1, leakingProcesses: 1 },
        changes: null,
      });
      expect(byPath.get('/hook/all')?.report).toMatchObject({
        scope: { hostGlob: 'db-*', labels: null },
        fleet: { hosts: 0, processes: 0 },
      });
      const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: true });
      const listed = await services.list({ limit: 2 });
      expect(listed.map((r) => [r.schedule, r.slotMs, r.scope.hostGlob]).sort()).toEqual([
        ['storage', slotMs, 'db-*'],
        ['web', slotMs, 'web-*'],
      ]);
    });

    it("judges the slot's window, not the window of verdicts stored before the slot", async () => {
      const windowMs = 6 * HOUR_MS;
      // scored live over the six hours up to the slot: what the report must say
      const atSlot = await createQueryServices(db().db, () => SLOT_MS).fleet({
        windowMs,
        metric: 'anon',
        toMs: SLOT_MS,
      });
      expect(atSlot.leaks.map((l) => l.comm)).toEqual(['leaky']);
      // verdicts stored 10 minutes before the slot, which `top` still takes as fresh at 06:00:30
      await refreshVerdicts(
        db().db,
        { windowsMs: [windowMs], metrics: ['anon'] },
        { nowMs: SLOT_MS - 10 * 60_000, force: true },
      );
      const nowMs = SLOT_MS + 30_000;
      const [top] = await createQueryServices(db().db, () => nowMs).top({
        windowMs,
        metric: 'anon',
        limit: 1,
        all: false,
      });
      expect(top?.asOfMs).toBe(SLOT_MS - 10 * 60_000);
      const tick = createReportTick(db().db, [{ ...DAILY, name: 'slotted', windowMs }], {
        nowMs: () => nowMs,
      });
      const [built] = (await tick()).built;
      const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: false });
      const { report } = await services.get(built ?? -1);
      expect(report.window).toEqual({ fromMs: SLOT_MS - windowMs, toMs: SLOT_MS, ms: windowMs });
      expect(report.generatedAtMs).toBe(nowMs);
      // and its leak as of the slot, not as of 05:50
      const [leak] = report.leaks;
      const [expected] = atSlot.leaks;
      expect(leak?.currentKb).toBe(expected?.currentKb);
      expect(leak?.slopeKbPerHour).toBe(expected?.slopeKbPerHour);
      expect(leak?.currentKb).toBeGreaterThan(top?.currentKb ?? Infinity);
      await db().db.delete(schema.verdictRuns);
    });

    it('delivers to other receivers while one hangs until its timeout', async () => {
      // Two teams' reports due at once; the one queued first goes to a receiver that never answers.
      const timeoutMs = 3_000;
      const held: ServerResponse[] = [];
      const hanging = createServer((_req, res) => {
        held.push(res);
      });
      let fastAtMs: number | undefined;
      let startedMs = 0;
      const fast = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          fastAtMs ??= performance.now() - startedMs;
          res.writeHead(204).end();
        });
      });
      const urlOf = async (server: Server) => {
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      };
      try {
        const webhooks = {
          bySchedule: new Map([
            ['slow-team', { url: await urlOf(hanging) }],
            ['fast-team', { url: await urlOf(fast) }],
          ]),
        };
        const dueMs = SLOT_MS + 3 * DAY_MS;
        const ids: number[] = [];
        for (const [i, schedule] of ['slow-team', 'fast-team'].entries()) {
          const claim = await claimReportSlot(db().db, {
            schedule,
            slotMs: dueMs,
            windowMs: DAY_MS,
            metric: 'anon',
            claimedBy: 'x:0',
            nowMs: dueMs,
            staleAfterMs: 60_000,
            retryAfterMs: 60_000,
            maxAttempts: 1,
          });
          if (!claim) throw new Error('no claim');
          const body = buildLeakReport([], {
            generatedAtMs: dueMs + i,
            windowMs: DAY_MS,
            toMs: dueMs,
            metric: 'anon',
          });
          const totals = { hosts: 0, processes: 0, leakingHosts: 0, leakingProcesses: 0 };
          await finishReport(db().db, claim.id, {
            claimedBy: 'x:0',
            generatedAtMs: dueMs + i,
            body,
            totals: { ...totals, newLeaks: null },
            deliver: true,
          });
          ids.push(claim.id);
        }
        const [slowId, fastId] = ids;
        const tick = createReportTick(db().db, [], {
          webhooks,
          nowMs: () => dueMs + 10,
          webhookTimeoutMs: timeoutMs,
        });
        startedMs = performance.now();
        const outcome = await tick();
        const tickMs = performance.now() - startedMs;
        console.log(
          `fast receiver answered after ${fastAtMs?.toFixed(0)} ms; the tick took ${tickMs.toFixed(0)} ms (timeout ${timeoutMs} ms)`,
        );
        expect(fastAtMs).toBeLessThan(timeoutMs / 3);
        // the tick still waits for the hanging one and reports both
        expect(tickMs).toBeGreaterThanOrEqual(timeoutMs - 50);
        expect(outcome).toEqual({ built: [], delivered: [fastId], failedDeliveries: [slowId] });
        const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: true });
        const listed = await services.list({ limit: 2 });
        expect(listed.map((r) => [r.id, r.delivery, r.deliveryError]).sort()).toEqual(
          [
            [slowId, 'pending', `no answer within ${timeoutMs / 1000} s`],
            [fastId, 'delivered', null],
          ].sort(),
        );
      } finally {
        for (const res of held) res.destroy();
        hanging.closeAllConnections();
        fast.closeAllConnections();
        hanging.close();
        fast.close();
      }
    });

    it('refuses to queue a delivery on a server without a webhook', async () => {
      const services = createReportServices(db().db, { claimedBy: 'x:0', canDeliver: false });
      await expect(
        services.run({ windowMs: HOUR_MS, metric: 'anon', deliver: true }),
      ).rejects.toThrow(/no report webhook configured/);
    });
  });
}
