import { spawn } from 'node:child_process';
import { readFileSync, utimesSync } from 'node:fs';
import {
  link,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DeferredDiskSpool,
  DiskSpool,
  type ForeignLockEvent,
  LOCK_HEARTBEAT_MS,
  LOCK_STALE_MS,
  SpoolBusyError,
  takeoverGuardName,
} from './spool.ts';

const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
const HOUR_MS = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The lock of an agent in another container of this host and boot (pid namespace `pid:[1]`,
 * never this process's), whose pid means nothing here: pid 4194304 is never alive on this host.
 */
const otherContainer = {
  pid: 4_194_304,
  bootId,
  startTicks: 1,
  nonce: '11111111-1111-4111-8111-111111111111',
  host: hostname(),
  pidNs: 'pid:[1]',
};

async function until(what: string, ok: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await ok())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('a lock from another pid namespace or host', () => {
  let dir: string;
  let lockPath: string;
  let events: ForeignLockEvent[];
  const onForeignLock = (e: ForeignLockEvent) => events.push(e);
  /** Writes a lock file whose mtime is its last heartbeat, `ageMs` ago by the wall clock. */
  const writeLock = async (owner: object, ageMs: number) => {
    await writeFile(lockPath, `${JSON.stringify(owner)}\n`);
    const at = new Date(Date.now() - ageMs);
    await utimes(lockPath, at, at);
  };
  const lockOwner = async () => JSON.parse(await readFile(lockPath, 'utf8'));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-spool-heartbeat-'));
    lockPath = join(dir, 'lock');
    events = [];
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is taken over once its heartbeat has stopped for the stale limit (a killed container)', async () => {
    // Killed just now: its last heartbeat is recent, and no other comes.
    const t0 = performance.now();
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, 0);
    const s = await DiskSpool.open(dir, 1 << 20, { staleMs: 300, onForeignLock });
    // The mtime, of whole milliseconds, may be up to one before the heartbeat it stands for.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(299);
    expect(await lockOwner()).toMatchObject({ pid: process.pid, heartbeatMs: LOCK_HEARTBEAT_MS });
    const waited = { lock: lockPath, pid: 4_194_304, staleMs: 300 };
    const elsewhere = 'pid namespace pid:[1] on this host';
    expect(events).toEqual([
      { kind: 'waiting', elsewhere, ...waited },
      { kind: 'taken over', elsewhere, ...waited },
    ]);
    await s.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('whose last heartbeat is long past is taken over after a few missed heartbeats watched', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, HOUR_MS);
    const t0 = performance.now();
    const s = await DiskSpool.open(dir, 1 << 20, { staleMs: 5_000, onForeignLock });
    const took = performance.now() - t0;
    // Three of its heartbeats (60 ms) must be seen not to come; the whole limit need not pass.
    expect(took).toBeGreaterThanOrEqual(60);
    expect(took).toBeLessThan(5_000);
    expect(await lockOwner()).toMatchObject({ pid: process.pid });
    expect(events.map((e) => e.kind)).toEqual(['waiting', 'taken over']);
    await s.close();
  });

  it('of another host, on shared storage, is taken over the same way once its heartbeat stops', async () => {
    await writeLock(
      { ...otherContainer, bootId: 'b', host: 'other-host', heartbeatMs: 20 },
      HOUR_MS,
    );
    const s = await DiskSpool.open(dir, 1 << 20, { staleMs: 5_000, onForeignLock });
    expect(await lockOwner()).toMatchObject({ pid: process.pid });
    expect(events.map((e) => [e.kind, e.elsewhere])).toEqual([
      ['waiting', 'host other-host'],
      ['taken over', 'host other-host'],
    ]);
    await s.close();
  });

  it('is never taken over while its heartbeat comes, even when the clock makes it look old', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, 0);
    const text = await readFile(lockPath, 'utf8');
    let beat = 0;
    for (const ageMs of [0, HOUR_MS]) {
      events = [];
      // A live agent refreshes its lock; with HOUR_MS, this host's clock stepped an hour ahead
      // after it wrote the mtimes, which all look an hour old.
      const heartbeat = setInterval(() => {
        const at = new Date(Date.now() - ageMs + beat++);
        utimesSync(lockPath, at, at);
      }, 20);
      try {
        const t0 = performance.now();
        const busy = await DiskSpool.open(dir, 1 << 20, { staleMs: 300, onForeignLock }).catch(
          (e: unknown) => e,
        );
        expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
        expect(busy).toBeInstanceOf(SpoolBusyError);
        expect((busy as Error).message).toBe(
          `spool directory ${dir} is in use by a fleetpmap-agent of pid namespace pid:[1] on ` +
            'this host (pid 4194304 there): its lock was refreshed during a wait of 300 ms ' +
            '(one not refreshed for 300 ms is taken over); give each agent its own --spool-dir',
        );
        expect(events.map((e) => e.kind)).toEqual(['waiting']);
        expect(await readFile(lockPath, 'utf8')).toBe(text);
        expect(await readdir(dir)).toEqual(['lock']);
      } finally {
        clearInterval(heartbeat);
      }
    }
  });

  it('is taken as soon as its agent lets go while a start waits (a rolling update)', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, 0);
    const letGo = sleep(100).then(() => unlink(lockPath));
    const t0 = performance.now();
    const s = await DiskSpool.open(dir, 1 << 20, { staleMs: 5_000, onForeignLock });
    await letGo;
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(await lockOwner()).toMatchObject({ pid: process.pid });
    expect(events.map((e) => e.kind)).toEqual(['waiting']);
    await s.close();
  });

  it('of an older agent, which does not promise heartbeats, is never taken over by its age', async () => {
    for (const heartbeatMs of [undefined, 0, -20, '20', 1.5]) {
      events = [];
      const owner = { ...otherContainer, heartbeatMs };
      // Written days ago: an older agent's mtime is its start, however long it has run since.
      await writeLock(owner, 72 * HOUR_MS);
      const text = await readFile(lockPath, 'utf8');
      const busy = await DiskSpool.open(dir, 1 << 20, { staleMs: 300, onForeignLock }).catch(
        (e: unknown) => e,
      );
      expect(busy).toBeInstanceOf(SpoolBusyError);
      expect((busy as Error).message).toBe(
        `spool directory ${dir} is locked by a fleetpmap-agent of pid namespace pid:[1] on this ` +
          'host (pid 4194304 there), an older version that does not refresh its lock, so whether ' +
          'it still runs cannot be told from here: give each agent its own --spool-dir on a ' +
          `local file system; if that agent is gone, remove ${lockPath}`,
      );
      // Refused at once: there is nothing to wait for.
      expect(events).toEqual([]);
      expect(await readFile(lockPath, 'utf8')).toBe(text);
    }
  });

  it('whose mtime is ahead of this clock is judged by the heartbeats watched alone', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, -HOUR_MS);
    const t0 = performance.now();
    const s = await DiskSpool.open(dir, 1 << 20, { staleMs: 300 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    expect(await lockOwner()).toMatchObject({ pid: process.pid });
    await s.close();
  });

  it('left guarded by a taker of another namespace that died mid-takeover is taken over', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, HOUR_MS);
    const guard = join(dir, takeoverGuardName('lock', await readFile(lockPath, 'utf8')));
    const taker = { ...otherContainer, pidNs: 'pid:[2]', nonce: 'n2', heartbeatMs: 20 };
    await writeFile(guard, `${JSON.stringify(taker)}\n`);
    const at = new Date(Date.now() - HOUR_MS);
    await utimes(guard, at, at);
    const s = await DiskSpool.open(dir, 1 << 20, { staleMs: 5_000 });
    expect(await lockOwner()).toMatchObject({ pid: process.pid });
    expect(await readdir(dir)).toEqual(['lock']);
    await s.close();
  });

  it('is watched across the tries of a deferred spool directory, none of which waits', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, 0);
    const spool = new DeferredDiskSpool(dir, 1 << 20, {
      monoMs: () => performance.now(),
      retryMs: 0,
      lock: { staleMs: 300, onForeignLock },
    });
    const t0 = performance.now();
    expect(await spool.reopen()).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(300);
    expect(spool.opened).toBe(false);
    await sleep(350);
    expect(await spool.reopen()).toMatchObject({ dir });
    expect(await lockOwner()).toMatchObject({ pid: process.pid });
    expect(events.map((e) => e.kind)).toEqual(['taken over']);
    await spool.close();
  });

  it('stops being waited for when the start is aborted (a stop signal)', async () => {
    await writeLock({ ...otherContainer, heartbeatMs: 20 }, 0);
    const text = await readFile(lockPath, 'utf8');
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const t0 = performance.now();
    const err = await DiskSpool.open(dir, 1 << 20, { staleMs: 5_000, signal: stop.signal }).catch(
      (e: unknown) => e,
    );
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect((err as Error).name).toBe('AbortError');
    expect(await readFile(lockPath, 'utf8')).toBe(text);
    expect(await readdir(dir)).toEqual(['lock']);
  });
});

describe('the heartbeat of the spool lock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-spool-heartbeat-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A second name for the lock file's inode, whose mtime outlives the lock's removal. */
  const watchLock = async () => {
    const observer = join(dir, 'observer');
    await link(join(dir, 'lock'), observer);
    const past = new Date(Date.now() - HOUR_MS);
    const setPast = () => utimes(observer, past, past);
    const refreshed = async () => (await stat(observer)).mtimeMs > Date.now() - 60_000;
    return { setPast, refreshed };
  };

  it('is promised in the lock, every 30 s and taken over after 3 min without one, by default', async () => {
    expect(LOCK_HEARTBEAT_MS).toBe(30_000);
    expect(LOCK_STALE_MS).toBe(180_000);
    const s = await DiskSpool.open(dir, 1 << 20);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
      heartbeatMs: 30_000,
    });
    await s.close();
  });

  it('refreshes the lock’s mtime while the spool is open, and stops when it is closed', async () => {
    const s = await DiskSpool.open(dir, 1 << 20, { heartbeatMs: 20 });
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).heartbeatMs).toBe(20);
    const lock = await watchLock();
    await lock.setPast();
    await until('a heartbeat', lock.refreshed);
    await lock.setPast();
    await until('another heartbeat', lock.refreshed);

    await s.close();
    expect(await readdir(dir)).toEqual(['observer']);
    await lock.setPast();
    await sleep(200);
    expect(await lock.refreshed()).toBe(false);
  });

  it('goes on until the last of the spools opened on the directory in this process is closed', async () => {
    const a = await DiskSpool.open(dir, 1 << 20, { heartbeatMs: 20 });
    const b = await DiskSpool.open(dir, 1 << 20, { heartbeatMs: 20 });
    const lock = await watchLock();
    await a.close();
    await lock.setPast();
    await until('a heartbeat after the first close', lock.refreshed);
    await b.close();
    await lock.setPast();
    await sleep(200);
    expect(await lock.refreshed()).toBe(false);
  });

  it('does not keep a process alive that is done', async () => {
    const script = `
      const { DiskSpool } = await import(${JSON.stringify(new URL('./spool.ts', import.meta.url).href)});
      await DiskSpool.open(${JSON.stringify(dir)}, 1 << 20, { heartbeatMs: 20 });
      console.log('opened');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      expect(await exited).toBe(0);
      expect(out).toBe('opened\n');
    } finally {
      clearTimeout(timeout);
    }
  });
});
