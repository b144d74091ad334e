import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Snapshot } from '@fleetpmap/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PushClient, PushOutcome } from './push.ts';
import { SERVER_ERROR_ATTEMPTS, Sender } from './sender.ts';
import { DiskSpool } from './spool.ts';
import { FakeClock } from './test-support.ts';

const log = pino({ level: 'silent' });
const snap = (n: number) =>
  ({
    snapshotId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    takenAtMs: n,
  }) as unknown as Snapshot;

/** A server whose answers the test scripts; it records what it stored, deduping on snapshotId. */
class ScriptedServer implements PushClient {
  readonly stored: string[] = [];
  calls = 0;
  answer: (s: Snapshot) => PushOutcome = () => ({ ok: true, duplicate: false, wireBytes: 10 });
  async push(s: Snapshot): Promise<PushOutcome> {
    this.calls++;
    const a = this.answer(s);
    if (a.ok) {
      const dup = this.stored.includes(s.snapshotId);
      if (!dup) this.stored.push(s.snapshotId);
      return { ...a, duplicate: dup };
    }
    return a;
  }
}

const down: PushOutcome = { ok: false, retryable: true, message: 'fetch failed', wireBytes: 0 };

/** A logger whose lines the test reads back, as an operator reads the agent's stderr. */
function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { logger, lines, msgs: () => lines.map((l) => l.msg) };
}

const refused = (status: number, retryable = false): PushOutcome => ({
  ok: false,
  retryable,
  status,
  message: `status ${status}`,
  wireBytes: 1,
});

describe('Sender', () => {
  let dir: string;
  let clock: FakeClock;
  let server: ScriptedServer;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-sender-'));
    clock = new FakeClock();
    server = new ScriptedServer();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function sender(random = () => 0) {
    const spool = await DiskSpool.open(dir, 1 << 20);
    return new Sender({ client: server, spool, clock, log, random, baseDelayMs: 1000 });
  }

  it('spools while the server is down and replays in order, each snapshot once', async () => {
    const s = await sender();
    server.answer = () => down;
    await s.submit(snap(1));
    expect(await s.step()).toBe('backoff');
    await s.submit(snap(2));
    await s.submit(snap(3));
    expect(s.spool.count).toBe(3);
    expect(server.stored).toEqual([]);

    // The agent restarts during the outage: a new sender finds the same spool.
    const again = await sender();
    expect(again.backlog).toBe(3);
    server.answer = () => ({ ok: true, duplicate: false, wireBytes: 10 });
    await again.submit(snap(4));
    expect(await again.drain(clock.monoMs() + 1000)).toBe(true);
    expect(server.stored).toEqual([snap(1), snap(2), snap(3), snap(4)].map((x) => x.snapshotId));
    expect(again.stats.acknowledged).toBe(4);
    expect(again.spool.count).toBe(0);
  });

  it('waits for Retry-After before trying again', async () => {
    const s = await sender();
    server.answer = () => ({
      ok: false,
      retryable: true,
      status: 429,
      retryAfterMs: 7000,
      message: 'rate limited',
      wireBytes: 5,
    });
    await s.submit(snap(1));
    expect(await s.step()).toBe('backoff');
    expect(server.calls).toBe(1);
    clock.advance(6999);
    expect(await s.step()).toBe('backoff');
    expect(server.calls).toBe(1);
    server.answer = () => ({ ok: true, duplicate: false, wireBytes: 10 });
    clock.advance(1);
    expect(await s.step()).toBe('sent');
    expect(server.stored).toEqual([snap(1).snapshotId]);
    expect(s.stats.wireBytes).toBe(15);
  });

  it('backs off exponentially with jitter', async () => {
    const s = await sender(() => 0.5);
    server.answer = () => down;
    await s.submit(snap(1));
    expect(await s.step()).toBe('backoff');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      const before = server.calls;
      let waited = 0;
      while (server.calls === before) {
        clock.advance(50);
        waited += 50;
        await s.step();
      }
      delays.push(waited);
    }
    // Ceiling 1 s, 2 s, 4 s, …; with jitter 0.5 each wait is 3/4 of its ceiling.
    expect(delays.slice(0, 4)).toEqual([750, 1500, 3000, 6000]);
  });

  it('drops what the server refuses for good and goes on with the next', async () => {
    const s = await sender();
    server.answer = (x) =>
      x.snapshotId === snap(1).snapshotId
        ? { ok: false, retryable: false, status: 400, message: 'bad', wireBytes: 1 }
        : { ok: true, duplicate: false, wireBytes: 1 };
    await s.submit(snap(1));
    await s.submit(snap(2));
    expect(await s.drain(clock.monoMs())).toBe(true);
    expect(s.stats.rejected).toBe(1);
    expect(server.stored).toEqual([snap(2).snapshotId]);
  });

  it('keeps what it could not deliver by the deadline in the spool', async () => {
    const s = await sender();
    server.answer = () => down;
    await s.submit(snap(1));
    expect(await s.drain(clock.monoMs() + 100)).toBe(false);
    expect(s.spool.count).toBe(1);
    expect((await DiskSpool.open(dir, 1 << 20)).oldest()?.snapshotId).toBe(snap(1).snapshotId);
  });

  it('spools everything submitted while held, and delivers it oldest first once released', async () => {
    const server = new ScriptedServer();
    const clock = new FakeClock();
    const spool = await DiskSpool.open(dir, 1024 * 1024);
    const sender = new Sender({ client: server, spool, clock, log });
    sender.hold(true);
    for (let n = 1; n <= 3; n++) await sender.submit(snap(n));
    // On disk, where its size is capped, not in memory.
    expect(spool.count).toBe(3);
    sender.hold(false);
    expect(await sender.drain(clock.monoMs() + 60_000, new AbortController().signal)).toBe(true);
    expect(server.stored).toEqual([snap(1), snap(2), snap(3)].map((s) => s.snapshotId));
  });

  describe('facing a refusing or failing server', () => {
    /** Steps the sender as its loop would, over `ms` of fake time. */
    async function runFor(s: Sender, ms: number) {
      for (let t = 0; t < ms; t += 100) {
        while ((await s.step()) === 'sent') {}
        clock.advance(100);
      }
    }

    it('holds delivery while the server refuses the token, keeps every snapshot, and logs it once', async () => {
      const { logger, lines, msgs } = capture();
      const spool = await DiskSpool.open(dir, 1 << 20);
      const s = new Sender({ client: server, spool, clock, log: logger, maxDelayMs: 300_000 });
      // An outage of 12 snapshots…
      server.answer = () => down;
      for (let n = 1; n <= 12; n++) {
        await s.submit(snap(n));
        await s.step();
      }
      expect(spool.count).toBe(12);
      // …then the server answers, but refuses the token.
      for (const status of [401, 403]) {
        server.answer = () => refused(status);
        const calls = server.calls;
        await runFor(s, 20 * 60_000);
        await s.submit(snap(12 + status));
        // Tried again at the longest backoff, not dropped.
        expect(server.calls - calls).toBeGreaterThanOrEqual(3);
        expect(server.calls - calls).toBeLessThanOrEqual(5);
        expect(s.stats.rejected).toBe(0);
      }
      expect(spool.count).toBe(14);
      const held = lines.filter((l) => /refuses the agent token/.test(l.msg));
      expect(held.map((l) => l.status)).toEqual([401, 403]);
      expect(held.every((l) => l.level === 50)).toBe(true);
      // A good token again: everything is delivered, in order.
      server.answer = () => ({ ok: true, duplicate: false, wireBytes: 1 });
      await runFor(s, 300_000);
      expect(server.stored).toEqual(
        [...Array.from({ length: 12 }, (_, i) => i + 1), 413, 415].map((n) => snap(n).snapshotId),
      );
      expect(msgs()).toContain('server accepts the agent token again');
    });

    it('retries a proxy’s 502 and 504', async () => {
      const s = await sender();
      for (const status of [502, 504]) {
        server.answer = () => refused(status, true);
        await s.submit(snap(status));
        expect(await s.step()).toBe('backoff');
        expect(s.stats.rejected).toBe(0);
        clock.advance(60_000);
      }
      expect(s.spool.count).toBe(2);
      server.answer = () => ({ ok: true, duplicate: false, wireBytes: 1 });
      expect(await s.drain(clock.monoMs() + 60_000)).toBe(true);
      expect(server.stored).toEqual([snap(502).snapshotId, snap(504).snapshotId]);
    });

    it('sets a snapshot the server keeps failing on (500) aside in rejected/ and goes on', async () => {
      const { logger, lines } = capture();
      const spool = await DiskSpool.open(dir, 1 << 20);
      const s = new Sender({ client: server, spool, clock, log: logger, random: () => 0 });
      const tried: string[] = [];
      server.answer = (x) => {
        tried.push(x.snapshotId);
        return x.snapshotId === snap(1).snapshotId
          ? refused(500)
          : { ok: true, duplicate: false, wireBytes: 1 };
      };
      for (let n = 1; n <= 3; n++) await s.submit(snap(n));
      await runFor(s, 60_000);
      expect(tried.filter((id) => id === snap(1).snapshotId)).toHaveLength(SERVER_ERROR_ATTEMPTS);
      expect(server.stored).toEqual([snap(2).snapshotId, snap(3).snapshotId]);
      expect(s.stats.rejected).toBe(1);
      expect(s.backlog).toBe(0);
      const kept = await readdir(join(dir, 'rejected'));
      expect(kept).toHaveLength(1);
      const body = JSON.parse(
        gunzipSync(await readFile(join(dir, 'rejected', kept[0] ?? ''))).toString(),
      );
      expect(body.snapshotId).toBe(snap(1).snapshotId);
      const line = lines.find((l) => /set aside/.test(l.msg));
      expect(line).toMatchObject({ snapshotId: snap(1).snapshotId, status: 500 });
      expect(line?.keptAt).toBe(join(dir, 'rejected', kept[0] ?? ''));
    });

    it('sets aside a snapshot refused for its host name (403 host.name) and goes on', async () => {
      const { logger, lines, msgs } = capture();
      const spool = await DiskSpool.open(dir, 1 << 20);
      const s = new Sender({ client: server, spool, clock, log: logger, random: () => 0 });
      const of = (n: number, host: string) => ({ ...snap(n), host: { name: host } }) as Snapshot;
      server.answer = (x) =>
        x.host.name === 'h7'
          ? {
              ok: false,
              retryable: false,
              status: 403,
              field: 'host.name',
              message: 'this agent token is bound to host "h8", not "h7"',
              wireBytes: 1,
            }
          : { ok: true, duplicate: false, wireBytes: 1 };
      s.hold(true);
      await s.submit(of(1, 'h7'));
      await s.submit(of(2, 'h8'));
      await s.submit(of(3, 'h8'));
      s.hold(false);
      await runFor(s, 1000);
      expect(server.stored).toEqual([snap(2).snapshotId, snap(3).snapshotId]);
      expect(s.backlog).toBe(0);
      expect(s.stats.rejected).toBe(1);
      const kept = await readdir(join(dir, 'rejected'));
      expect(kept).toHaveLength(1);
      expect(kept[0]).toContain(snap(1).snapshotId);
      const line = lines.find((l) => /set aside/.test(l.msg));
      expect(line).toMatchObject({ snapshotId: snap(1).snapshotId, status: 403, hostName: 'h7' });
      expect(msgs().some((m) => /refuses the agent token/.test(m))).toBe(false);
    });

    it('holds delivery, keeping every snapshot, when the token is another host’s than the agent’s own name', async () => {
      const { logger, msgs } = capture();
      const spool = await DiskSpool.open(dir, 1 << 20);
      const of = (n: number) => ({ ...snap(n), host: { name: 'h9' } }) as Snapshot;
      server.answer = () => ({
        ok: false,
        retryable: false,
        status: 403,
        field: 'host.name',
        message: 'this agent token is bound to host "h8", not "h9"',
        wireBytes: 1,
      });
      const s = new Sender({ client: server, spool, clock, log: logger, hostName: 'h9' });
      for (let n = 1; n <= 20; n++) await s.submit(of(n));
      await runFor(s, 1000);
      // nothing set aside: all 20 wait in the spool for a token of h9
      expect(s.stats.rejected).toBe(0);
      expect(spool.count).toBe(20);
      expect(msgs().some((m) => /refuses the agent token \(403\)/.test(m))).toBe(true);
    });

    it('sets aside, unpushed, a spooled snapshot of another host name than the agent’s', async () => {
      const { logger, lines } = capture();
      const spool = await DiskSpool.open(dir, 1 << 20);
      const of = (n: number, host: string) => ({ ...snap(n), host: { name: host } }) as Snapshot;
      const before = new Sender({ client: server, spool, clock, log: logger, hostName: 'h7' });
      before.hold(true);
      await before.submit(of(1, 'h7'));
      // The host was renamed: the agent starts again as h8 on the same spool.
      const s = new Sender({ client: server, spool, clock, log: logger, hostName: 'h8' });
      await s.submit(of(2, 'h8'));
      expect(await s.drain(clock.monoMs() + 1000)).toBe(true);
      expect(server.calls).toBe(1);
      expect(server.stored).toEqual([snap(2).snapshotId]);
      expect(await readdir(join(dir, 'rejected'))).toHaveLength(1);
      expect(lines.find((l) => /set aside/.test(l.msg))).toMatchObject({
        snapshotId: snap(1).snapshotId,
        hostName: 'h7',
        agentHostName: 'h8',
      });
    });

    it('treats a spool file removed behind its back as gone, not as refused', async () => {
      const { logger, msgs } = capture();
      const spool = await DiskSpool.open(dir, 1 << 20);
      const s = new Sender({ client: server, spool, clock, log: logger });
      s.hold(true);
      for (let n = 1; n <= 3; n++) await s.submit(snap(n));
      s.hold(false);
      const [first] = (await readdir(dir)).filter((n) => n.endsWith('.json.gz')).sort();
      await rm(join(dir, first ?? ''));
      expect(await s.drain(clock.monoMs() + 1000)).toBe(true);
      expect(s.stats.rejected).toBe(0);
      expect(server.stored).toEqual([snap(2).snapshotId, snap(3).snapshotId]);
      expect(msgs()).toContain('spooled snapshot vanished before it was sent');
      expect(msgs()).not.toContain('unreadable snapshot');
    });
  });
});
