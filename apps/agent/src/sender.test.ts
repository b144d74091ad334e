import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '@fleetpmap/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PushClient, PushOutcome } from './push.ts';
import { Sender } from './sender.ts';
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
});
