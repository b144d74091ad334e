import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Snapshot } from '@fleetpmap/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.ts';
import { systemClock } from './clock.ts';
import { procfsSource } from './proc-source.ts';
import { createTrpcPushClient, type PushClient } from './push.ts';
import { MAX_PENDING, Sender } from './sender.ts';
import { DeferredDiskSpool, DiskSpool } from './spool.ts';
import { FakeClock, fixtureProcRoot, tmpfsUnavailable, UNLIMITED_TIERS } from './test-support.ts';

const tiers = UNLIMITED_TIERS;

function capture() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l)) });
  return { logger, lines, msgs: () => lines.map((l) => l.msg) };
}

const idsIn = async (dir: string) =>
  (await readdir(dir))
    .filter((n) => /^\d{12}-.+\.json\.gz$/.test(n))
    .sort()
    .map((n) => n.slice(13, -'.json.gz'.length));

/** A server on 127.0.0.1 that answers each push only when the test says so. */
async function slowServer() {
  const received: string[] = [];
  const waiting: { id: string; res: ServerResponse }[] = [];
  let answering = false;
  const ack = (id: string, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ result: { data: { snapshotId: id, accepted: true, duplicate: false } } }),
    );
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const id = (
        JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) as { snapshotId: string }
      ).snapshotId;
      received.push(id);
      if (answering) ack(id, res);
      else waiting.push({ id, res });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    answerAll() {
      answering = true;
      for (const w of waiting.splice(0)) ack(w.id, w.res);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('delivery to a server slower than the cycle', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-delivery-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a few snapshots in memory, the rest in the spool, reports them all, and delivers each once', async () => {
    const server = await slowServer();
    try {
      const { logger } = capture();
      const spool = await DiskSpool.open(dir, 1 << 24);
      const client = createTrpcPushClient({ server: server.url, token: 't' });
      const sender = new Sender({ client, spool, clock: systemClock, log: logger });
      const agent = new Agent({
        source: procfsSource({ procRoot: fixtureProcRoot }),
        clock: systemClock,
        log: logger,
        tiers,
        hostName: 'slow',
        labels: {},
        version: '0.1.0',
        cheapIntervalMs: 1000,
        sender,
      });
      const stop = new AbortController();
      const delivering = sender.run(stop.signal);
      const made: string[] = [];
      const waiting: number[] = [];
      for (let cycle = 0; cycle < 12; cycle++) {
        const report = await agent.runCycle();
        made.push(...report.snapshotIds);
        waiting.push(report.cost.spool.count);
        if (cycle === 0) {
          const until = Date.now() + 10_000;
          while (server.received.length === 0 && Date.now() < until) {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
      // One push hangs; memory holds at most a few snapshots, the spool the rest.
      expect(server.received).toHaveLength(1);
      expect(sender.pendingCount).toBeLessThanOrEqual(MAX_PENDING);
      expect((await idsIn(dir)).length + sender.pendingCount).toBe(12);
      // Each cycle's cost counts what waits before it, wherever it waits.
      expect(waiting).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(sender.spool.count).toBe(12);

      server.answerAll();
      const end = Date.now() + 30_000;
      while (sender.backlog > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      stop.abort();
      await delivering;
      expect(server.received).toEqual(made);
      expect(await idsIn(dir)).toEqual([]);
    } finally {
      await server.close();
    }
  });
});

const why = tmpfsUnavailable();
if (why && process.env.CI !== 'true') console.warn(`skipping the full-disk tests: ${why}`);
const itWithTmpfs = it.skipIf(why !== undefined && process.env.CI !== 'true');

const downClient: PushClient = {
  push: async () => ({ ok: false, retryable: true, message: 'refused', wireBytes: 0 }),
};

/** Writes a file until the file system has no room left. */
async function fill(path: string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const chunk = Buffer.alloc(4096, 1);
    for (;;) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
}

/** A snapshot whose id is made of `n`. */
const snap = (n: number) =>
  ({ snapshotId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` }) as Snapshot;
const ids = (...ns: number[]) => ns.map((n) => snap(n).snapshotId);

describe('the spool on a full disk', () => {
  let dir: string;
  let mnt: string;

  /** A spool directory on a tmpfs at `mnt` where a previous run left 1 and 2, then the disk filled. */
  async function previousRunOnFullDisk(): Promise<string> {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', mnt]);
    const spoolDir = join(mnt, 'spool');
    const previous = await DiskSpool.open(spoolDir, 1 << 20);
    for (const n of [1, 2]) {
      await previous.put(snap(n).snapshotId, gzipSync(JSON.stringify(snap(n))));
    }
    await previous.close();
    await fill(join(mnt, 'filler'));
    return spoolDir;
  }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-full-'));
    mnt = join(dir, 'mnt');
    await mkdir(mnt);
  });
  afterEach(async () => {
    if (why === undefined || process.env.CI === 'true') {
      execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    }
    await rm(dir, { recursive: true, force: true });
  });

  itWithTmpfs(
    'drops the oldest spooled snapshot for the newest, logged as a spool error, and leaks nothing',
    async () => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
      const { logger, lines, msgs } = capture();
      const clock = new FakeClock();
      const spool = await DiskSpool.open(join(mnt, 'spool'), 256 * 1024 * 1024);
      const sender = new Sender({ client: downClient, spool, clock, log: logger });
      const agent = new Agent({
        source: procfsSource({ procRoot: fixtureProcRoot }),
        clock,
        log: logger,
        tiers,
        hostName: 'full',
        labels: {},
        version: '0.1.0',
        cheapIntervalMs: 30_000,
        sender,
      });
      const first = await agent.runCycle();
      await sender.step();
      const second = await agent.runCycle();
      expect(await idsIn(join(mnt, 'spool'))).toEqual([
        ...first.snapshotIds,
        ...second.snapshotIds,
      ]);

      await fill(join(mnt, 'filler'));
      const third = await agent.runCycle();
      // The newest is on disk; the oldest made room for it.
      expect(await idsIn(join(mnt, 'spool'))).toEqual([
        ...second.snapshotIds,
        ...third.snapshotIds,
      ]);
      expect(spool.droppedCount).toBe(1);
      const drop = lines.find((l) => l.msg.startsWith('disk full: dropped the oldest'));
      expect(drop).toMatchObject({ snapshotId: first.snapshotIds[0], reason: 'disk full' });
      expect(msgs()).not.toContain('cycle failed');
      expect((await readdir(join(mnt, 'spool'))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
      expect(third.cost.spool.dropped).toBe(0);
      expect((await agent.runCycle()).cost.spool.dropped).toBe(1);
    },
  );

  itWithTmpfs(
    'keeps a snapshot it cannot write in memory, says so once, and writes it out once there is room',
    async () => {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', mnt]);
      const { logger, lines, msgs } = capture();
      const spool = await DiskSpool.open(join(mnt, 'spool'), 1 << 20);
      const sender = new Sender({ client: downClient, spool, clock: new FakeClock(), log: logger });
      sender.hold(true);
      await fill(join(mnt, 'filler'));
      await sender.submit(snap(1));
      await sender.submit(snap(2));
      expect(spool.count).toBe(2);
      expect(spool.memoryCount).toBe(2);
      expect(sender.spool.count).toBe(2);
      const failed = lines.filter((l) => l.msg.startsWith('spool write failed'));
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({ level: 50, inMemory: 1 });
      expect(String(failed[0]?.err)).toMatch(/ENOSPC/);
      expect((await readdir(join(mnt, 'spool'))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);

      await rm(join(mnt, 'filler'));
      await sender.submit(snap(3));
      expect(msgs()).toContain('spool writable again');
      expect(spool.memoryCount).toBe(0);
      expect(await idsIn(join(mnt, 'spool'))).toEqual([1, 2, 3].map((n) => snap(n).snapshotId));
      expect(await spool.close()).toBe(0);
      expect(existsSync(join(mnt, 'spool', 'lock'))).toBe(false);
    },
  );

  itWithTmpfs(
    'replays the spool left by a previous run once a disk full at start has room, in order, each once',
    async () => {
      const dir = await previousRunOnFullDisk();
      expect(String(await DiskSpool.open(dir, 1 << 20).catch((e: unknown) => e))).toMatch(/ENOSPC/);

      const { logger, msgs } = capture();
      const clock = new FakeClock();
      const spool = new DeferredDiskSpool(dir, 1 << 20, {
        monoMs: () => clock.monoMs(),
        retryMs: 30_000,
      });
      let up = false;
      const received: string[] = [];
      const client: PushClient = {
        push: async (s) => {
          if (!up) return { ok: false, retryable: true, message: 'refused', wireBytes: 0 };
          received.push(s.snapshotId);
          return { ok: true, duplicate: false, wireBytes: 1 };
        },
      };
      const sender = new Sender({ client, spool, clock, log: logger, maxDelayMs: 10_000 });
      // The server is down too: what this run makes waits in memory.
      await sender.submit(snap(3));
      expect(await sender.step()).toBe('backoff');
      await sender.submit(snap(4));
      expect(spool.memoryCount).toBe(2);
      clock.advance(60_000);
      expect(await sender.step()).toBe('backoff');
      expect(spool.opened).toBe(false);
      expect(await idsIn(dir)).toEqual(ids(1, 2));

      // Room again: the next try takes the directory, the old snapshots first.
      await rm(join(mnt, 'filler'));
      clock.advance(60_000);
      expect(await sender.step()).toBe('backoff');
      expect(spool.opened).toBe(true);
      expect(msgs()).toContain('spool directory usable again; replaying it');
      expect(await idsIn(dir)).toEqual(ids(1, 2, 3, 4));
      expect(spool.memoryCount).toBe(0);

      up = true;
      clock.advance(60_000);
      await sender.submit(snap(5));
      while ((await sender.step()) === 'sent');
      expect(received).toEqual(ids(1, 2, 3, 4, 5));
      expect(await idsIn(dir)).toEqual([]);
      expect(spool.droppedCount).toBe(0);
      expect(await spool.close()).toBe(0);
      expect(existsSync(join(dir, 'lock'))).toBe(false);
    },
  );

  itWithTmpfs(
    'with the server up all along, delivers the old spool once the disk has room, then the rest',
    async () => {
      const dir = await previousRunOnFullDisk();
      const { logger } = capture();
      const clock = new FakeClock();
      const spool = new DeferredDiskSpool(dir, 1 << 20, {
        monoMs: () => clock.monoMs(),
        retryMs: 30_000,
      });
      const received: string[] = [];
      const client: PushClient = {
        push: async (s) => {
          received.push(s.snapshotId);
          return { ok: true, duplicate: false, wireBytes: 1 };
        },
      };
      const sender = new Sender({ client, spool, clock, log: logger });
      await sender.submit(snap(3));
      while ((await sender.step()) === 'sent');
      expect(received).toEqual(ids(3));
      await rm(join(mnt, 'filler'));
      clock.advance(30_000);
      // The next submit takes the directory up: what it holds goes first, this run's after it.
      await sender.submit(snap(4));
      await sender.submit(snap(5));
      while ((await sender.step()) === 'sent');
      await sender.submit(snap(6));
      while ((await sender.step()) === 'sent');
      expect(received).toEqual(ids(3, 1, 2, 4, 5, 6));
      expect(await idsIn(dir)).toEqual([]);
      expect(await spool.close()).toBe(0);
    },
  );
});
