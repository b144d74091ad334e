import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
import { DeferredDiskSpool, DiskSpool, SpoolBusyError } from './spool.ts';
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

  /** A spool directory on a tmpfs at `mnt` where a previous run left `ns`, then the disk filled. */
  async function spooledThenFull(ns: number[], leave?: (spoolDir: string) => Promise<void>) {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]);
    const spoolDir = join(mnt, 'spool');
    const previous = await DiskSpool.open(spoolDir, 1 << 20);
    for (const n of ns) await previous.put(snap(n).snapshotId, gzipSync(JSON.stringify(snap(n))));
    await previous.close();
    await leave?.(spoolDir);
    await fill(join(mnt, 'filler'));
    return spoolDir;
  }

  /** Opens `dir` and delivers all it holds to a server that takes everything. */
  async function openAndDeliver(dir: string) {
    const spool = await DiskSpool.open(dir, 1 << 20);
    const received: string[] = [];
    const client: PushClient = {
      push: async (s) => {
        received.push(s.snapshotId);
        return { ok: true, duplicate: false, wireBytes: 1 };
      },
    };
    const { logger } = capture();
    const sender = new Sender({ client, spool, clock: new FakeClock(), log: logger });
    expect(existsSync(join(dir, 'lock'))).toBe(true);
    while ((await sender.step()) === 'sent');
    return { spool, received };
  }

  itWithTmpfs(
    'a start on a disk the spool filled drops the oldest spooled snapshot for its lock, replays the rest',
    async () => {
      const dir = await spooledThenFull([1, 2, 3, 4, 5]);
      const { spool, received } = await openAndDeliver(dir);
      // One spooled file frees more than the lock takes: only the oldest goes.
      expect(spool.droppedCount).toBe(1);
      expect(spool.droppedAtOpen).toMatchObject([
        { snapshotId: snap(1).snapshotId, reason: 'disk full' },
      ]);
      expect(received).toEqual(ids(2, 3, 4, 5));
      expect(await idsIn(dir)).toEqual([]);
      expect((await readdir(dir)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
      expect(await spool.close()).toBe(0);
      expect(existsSync(join(dir, 'lock'))).toBe(false);
    },
  );

  itWithTmpfs(
    "on a full disk removes a crashed write's temporary file before any snapshot, and takes a dead agent's lock over",
    async () => {
      const dir = await spooledThenFull([1, 2, 3], async (spoolDir) => {
        await writeFile(
          join(spoolDir, `.tmp-000000000004-${snap(4).snapshotId}.json.gz`),
          Buffer.alloc(8192, 1),
        );
        await writeFile(
          join(spoolDir, 'lock'),
          `${JSON.stringify({ pid: 4_194_304, bootId: '', startTicks: 1 })}\n`,
        );
      });
      const { spool, received } = await openAndDeliver(dir);
      expect(spool.droppedCount).toBe(0);
      expect(received).toEqual(ids(1, 2, 3));
      expect(await spool.close()).toBe(0);
      expect(await readdir(dir)).toEqual([]);
    },
  );

  /** Leaves copies of `ns` set aside in the spool's `rejected/`, 8 KiB each, the oldest first. */
  const setAside = (ns: number[]) => async (spoolDir: string) => {
    await mkdir(join(spoolDir, 'rejected'));
    for (const n of ns) {
      const name = `${String(n).padStart(12, '0')}-${snap(n).snapshotId}.json.gz`;
      await writeFile(join(spoolDir, 'rejected', name), Buffer.alloc(8192, 1));
    }
  };
  const setAsideIn = async (spoolDir: string) =>
    (await readdir(join(spoolDir, 'rejected'))).map((n) => n.slice(13, -'.json.gz'.length));

  itWithTmpfs(
    'on a full disk removes a copy set aside in rejected/ before any snapshot still to deliver',
    async () => {
      // At start, for the lock: the oldest set-aside copy goes, every spooled snapshot is replayed.
      const dir = await spooledThenFull([1, 2, 3], setAside([7, 8]));
      const { spool, received } = await openAndDeliver(dir);
      expect(spool.droppedAtOpen).toMatchObject([
        { key: expect.stringMatching(/^rejected\//), snapshotId: snap(7).snapshotId },
      ]);
      expect(spool.droppedAtOpen[0]?.reason).toBe('set aside, disk full');
      expect(spool.droppedCount).toBe(0);
      expect(received).toEqual(ids(1, 2, 3));
      expect(await setAsideIn(dir)).toEqual(ids(8));

      // For a write: the last set-aside copy goes before the oldest spooled snapshot, logged.
      const { logger, lines } = capture();
      const sender = new Sender({ client: downClient, spool, clock: new FakeClock(), log: logger });
      sender.hold(true);
      await sender.submit(snap(4));
      await sender.submit(snap(5));
      await fill(join(mnt, 'filler-2'));
      await sender.submit(snap(6));
      expect(await setAsideIn(dir)).toEqual([]);
      expect(
        lines.find((l) => l.msg.startsWith('disk full: removed the oldest snapshot set aside')),
      ).toMatchObject({ snapshotId: snap(8).snapshotId, reason: 'set aside, disk full' });
      expect(await idsIn(dir)).toEqual(ids(4, 5, 6));
      expect(spool.droppedCount).toBe(0);
      // With no copy left, the oldest spooled snapshot makes room again.
      await fill(join(mnt, 'filler-3'));
      await sender.submit(snap(9));
      expect(spool.droppedCount).toBe(1);
      expect(await idsIn(dir)).toEqual(ids(5, 6, 9));
      await spool.close();
    },
  );

  itWithTmpfs(
    'on a full disk never drops the snapshots of a directory a live agent holds',
    async () => {
      const stat = await readFile(`/proc/${process.ppid}/stat`, 'utf8');
      const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      const live = `${JSON.stringify({ pid: process.ppid, bootId: '', startTicks })}\n`;
      const dir = await spooledThenFull([1, 2], (spoolDir) =>
        writeFile(join(spoolDir, 'lock'), live),
      );
      await expect(DiskSpool.open(dir, 1 << 20)).rejects.toBeInstanceOf(SpoolBusyError);
      expect(await idsIn(dir)).toEqual(ids(1, 2));
      expect(await readFile(join(dir, 'lock'), 'utf8')).toBe(live);
    },
  );

  itWithTmpfs(
    'a directory tried again on a full disk is taken up with the oldest spooled snapshot dropped, logged',
    async () => {
      const dir = await spooledThenFull([1, 2, 3]);
      const { logger, lines } = capture();
      const clock = new FakeClock();
      const spool = new DeferredDiskSpool(dir, 1 << 20, {
        monoMs: () => clock.monoMs(),
        retryMs: 30_000,
      });
      const sender = new Sender({ client: downClient, spool, clock, log: logger });
      await sender.submit(snap(4));
      clock.advance(30_000);
      await sender.step();
      expect(spool.opened).toBe(true);
      const drop = lines.find((l) => l.msg.startsWith('disk full: dropped the oldest'));
      expect(drop).toMatchObject({
        snapshotId: snap(1).snapshotId,
        reason: 'disk full',
        spoolDropped: 1,
      });
      expect(
        lines.find((l) => l.msg === 'spool directory usable again; replaying it'),
      ).toMatchObject({ restored: 2 });
      // Then snapshot 4, spilled from memory, makes room for itself by the write's rule.
      expect(
        lines.filter((l) => l.msg.startsWith('disk full: dropped')).map((l) => l.snapshotId),
      ).toEqual(ids(1, 2));
      expect(await idsIn(dir)).toEqual(ids(3, 4));
      expect(spool.droppedCount).toBe(2);
      await spool.close();
    },
  );

  itWithTmpfs(
    'replays the spool left by a previous run once a directory read-only at start is writable, in order, each once',
    async () => {
      // A full disk no longer keeps a directory with spooled snapshots unusable (they make room for
      // the lock, above): a read-only mount does.
      const dir = await previousRunOnFullDisk();
      await rm(join(mnt, 'filler'));
      execFileSync('mount', ['-o', 'remount,ro', mnt]);
      expect(String(await DiskSpool.open(dir, 1 << 20).catch((e: unknown) => e))).toMatch(/EROFS/);

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

      // Writable again: the next try takes the directory, the old snapshots first.
      execFileSync('mount', ['-o', 'remount,rw', mnt]);
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
