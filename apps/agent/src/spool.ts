import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readlinkSync } from 'node:fs';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUuid } from './uuid.ts';

/** One stored snapshot: gzip of its JSON, kept under the snapshot's own id. */
export interface SpoolEntry {
  readonly key: string;
  readonly snapshotId: string;
  readonly bytes: number;
}

/**
 * Why an entry left the spool without being delivered: the spool's cap, a disk with no room
 * left, the bound on what is kept in memory, or a snapshot bigger than the whole spool.
 * `set aside, disk full` is a copy in `rejected/` removed to make room (the snapshot was given up
 * on already, and is not counted as dropped again).
 */
export type DropReason =
  | 'spool full'
  | 'disk full'
  | 'memory full'
  | 'too big'
  | 'set aside, disk full';

export interface DroppedEntry extends SpoolEntry {
  readonly reason: DropReason;
}

export interface PutResult {
  /** The stored entry; absent when the snapshot itself could not be kept (`too big`). */
  entry?: SpoolEntry;
  /** Entries dropped to make room, the new one only when it is bigger than the whole spool. */
  dropped: DroppedEntry[];
  /** Set when the snapshot could not be written to disk: it is kept in memory instead. */
  writeError?: string;
}

/**
 * Snapshots that could not be pushed yet, oldest first, bounded in bytes. When a new entry does not
 * fit, the oldest are dropped (and counted): recent data is worth more to a leak ranking than old.
 * `put` does not fail on I/O errors: what cannot be written is kept in memory, within a bound.
 */
export interface Spool {
  readonly count: number;
  readonly totalBytes: number;
  /** Entries dropped to make room since the agent started (reported in the next snapshot). */
  readonly droppedCount: number;
  /** Entries held in memory because they could not be written (all of them for MemorySpool). */
  readonly memoryCount: number;
  oldest(): SpoolEntry | undefined;
  put(snapshotId: string, gzipped: Buffer): Promise<PutResult>;
  /** Rejects with code ENOENT when the entry's file is gone. */
  read(entry: SpoolEntry): Promise<Buffer>;
  remove(entry: SpoolEntry): Promise<void>;
  /**
   * Keeps a snapshot the server could not take apart from the queue, for an operator to look at;
   * returns where, or undefined when there is nowhere to keep it.
   */
  keepRejected(snapshotId: string, gzipped: Buffer): Promise<string | undefined>;
  /** Writes out what it can and releases the directory; resolves to the entries still unwritten. */
  close(): Promise<number>;
  /**
   * Set only while a spool directory that could not be opened at start waits in memory
   * (DeferredDiskSpool): tries the directory again (at most once per its retry interval), and
   * once it opens, queues what waits in memory behind what a previous run left there. Resolves to
   * what it did, or undefined when it did nothing.
   */
  reopen?(): Promise<ReopenResult | undefined>;
}

/** A spool directory that opened after all. */
export interface ReopenResult {
  dir: string;
  /** Snapshots a previous run left in the directory, now first in the queue. */
  restored: number;
  /** Snapshots that waited in memory, now behind them. */
  moved: number;
  /** Dropped to make room for the lock, and while moving them over (the spool's cap, a disk full). */
  dropped: DroppedEntry[];
  /** Set when some could not be written after all: they wait in memory, in their place. */
  writeError?: string;
}

const entryPattern = /^(\d{12})-([0-9A-Za-z-]{1,64})\.json\.gz$/;

/** Snapshots kept in memory (no usable spool directory, or writes failing) take at most this. */
export const MEMORY_QUEUE_MAX_BYTES = 64 * 1024 * 1024;

/** How many snapshots `rejected/` keeps; older ones are removed as new ones come. */
export const REJECTED_KEEP = 16;

/** The lock file in the spool directory; it names the agent process that uses the directory. */
export const LOCK_FILE = 'lock';

/**
 * How often the agent holding a spool directory refreshes its lock file's mtime. The lock says so
 * (`heartbeatMs`): an agent in another pid namespace or on another host, whose pid cannot be
 * checked from here, is known to be gone once its heartbeat stops. One `futimes` per 30 s costs
 * nothing measurable.
 */
export const LOCK_HEARTBEAT_MS = 30_000;

/**
 * How long a lock that promises heartbeats must go without one before it counts as gone: six
 * heartbeats. A live agent may miss a few, its event loop held up by a long synchronous read, a
 * swap storm or its VM paused for a live migration, and taking over a live agent's directory would
 * have two agents deliver and delete each other's files; a restarted container still gets its
 * directory back within 3 minutes, sooner than Kubernetes' longest restart back-off (5 minutes).
 * A lock promising a slower heartbeat is given six of its own.
 */
export const LOCK_STALE_MS = 6 * LOCK_HEARTBEAT_MS;

/** The stale limit in heartbeats, for a lock that promises a slower one than this agent's. */
const STALE_HEARTBEATS = LOCK_STALE_MS / LOCK_HEARTBEAT_MS;

/**
 * A lock promising heartbeats is judged gone by its age on this host's wall clock only once this
 * many of them were watched not to come (on the monotonic clock): a clock stepped forward makes
 * every mtime look old, but cannot hide heartbeats that do come.
 */
const WATCHED_HEARTBEATS = 3;

/** How often a waiting start reads the lock again, at most. */
const LOCK_POLL_MS = 1_000;

/** How the spool lock is held and how a lock of another pid namespace or host is waited for. */
export interface SpoolLockOptions {
  /** How often the lock's mtime is refreshed while the spool is open (LOCK_HEARTBEAT_MS). */
  heartbeatMs?: number;
  /** How long without a heartbeat before another's lock counts as gone, at least (LOCK_STALE_MS). */
  staleMs?: number;
  /**
   * Whether a start waits, up to the stale limit, for another namespace's or host's lock to go
   * stale or be let go (true). Without waiting it is watched from one try to the next instead.
   */
  wait?: boolean;
  /** Told when a start waits for such a lock, and when it takes one over. */
  onForeignLock?: (event: ForeignLockEvent) => void;
  /** Stops a wait: the start rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A lock of an agent in another pid namespace or on another host, met at start. */
export interface ForeignLockEvent {
  kind: 'waiting' | 'taken over';
  /** The lock file. */
  lock: string;
  pid: number;
  /** Where its agent runs (`pid namespace pid:[4026532290] on this host`, `host h2`). */
  elsewhere: string;
  /** How long without a heartbeat before it counts as gone. */
  staleMs: number;
}

function spanText(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1_000)} s`;
  return `${Math.round(ms / 6_000) / 10} min`;
}

/** Another live agent process uses the spool directory. */
export class SpoolBusyError extends Error {
  readonly code = 'ESPOOLBUSY';
  readonly dir: string;
  readonly pid: number;
  /**
   * Set when the lock is another host's or another pid namespace's (`host h2`, `pid namespace
   * pid:[4026532290] on this host`), whose pid cannot be checked from here.
   */
  readonly elsewhere: string | undefined;
  /**
   * Set when that lock promises heartbeats: how long it may go without one before it is taken
   * over, and whether this start waited that long for it. Without it (an older agent's lock),
   * whether that agent still runs cannot be told from here at all.
   */
  readonly heartbeat: { staleMs: number; waited: boolean } | undefined;
  constructor(
    dir: string,
    pid: number,
    elsewhere?: string,
    heartbeat?: { staleMs: number; waited: boolean },
  ) {
    super(
      elsewhere === undefined
        ? `spool directory ${dir} is in use by another fleetpmap-agent (pid ${pid}); ` +
            'give each agent its own --spool-dir'
        : heartbeat === undefined
          ? `spool directory ${dir} is locked by a fleetpmap-agent of ${elsewhere} (pid ${pid} ` +
            'there), an older version that does not refresh its lock, so whether it still runs ' +
            'cannot be told from here: give each agent its own --spool-dir on a local file ' +
            `system; if that agent is gone, remove ${join(dir, LOCK_FILE)}`
          : `spool directory ${dir} is in use by a fleetpmap-agent of ${elsewhere} (pid ${pid} ` +
            'there): ' +
            (heartbeat.waited
              ? `its lock was refreshed during a wait of ${spanText(heartbeat.staleMs)}`
              : 'its lock is refreshed') +
            ` (one not refreshed for ${spanText(heartbeat.staleMs)} is taken over); ` +
            'give each agent its own --spool-dir',
    );
    this.dir = dir;
    this.pid = pid;
    this.elsewhere = elsewhere;
    this.heartbeat = heartbeat;
  }
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function messageOf(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

const DISK_FULL = new Set(['ENOSPC', 'EDQUOT']);

/**
 * One file per snapshot, `NNNNNNNNNNNN-<snapshotId>.json.gz`. The sequence number gives the replay
 * order and survives restarts (the next number continues after the highest on disk). Files are
 * written to a temporary name, fsynced, renamed, and the directory fsynced, so a crash leaves
 * either the whole file or none; stray temporary files are removed at open, and a failed write
 * removes its own at once.
 *
 * A snapshot whose write fails is kept in memory in its place in the queue (at most
 * MEMORY_QUEUE_MAX_BYTES of them), and written out once writes work again; when the disk is full
 * the oldest files are removed to make room for it first.
 */
export class DiskSpool implements Spool {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #memoryMaxBytes: number;
  readonly #entries: SpoolEntry[] = [];
  /** Entries whose write failed, with their bodies. */
  readonly #inMemory = new Map<SpoolEntry, Buffer>();
  #memoryBytes = 0;
  #nextSeq = 1;
  #totalBytes = 0;
  #dropped = 0;
  #droppedAtOpen: DroppedEntry[] = [];
  #lock: SpoolLock | undefined;

  private constructor(dir: string, maxBytes: number) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
    this.#memoryMaxBytes = Math.min(maxBytes, MEMORY_QUEUE_MAX_BYTES);
  }

  /**
   * Opens the directory for this process alone. Rejects with SpoolBusyError when another live
   * agent holds it, and with the I/O error when it cannot be written (read-only, no permission):
   * writing the lock file is the check that it can be. A lock of another pid namespace or host
   * that promises heartbeats is waited for (see SpoolLock), unless `lock.wait` is false. On a
   * full disk the lock is given room like a snapshot is: see #makeRoomForLock.
   */
  static async open(
    dir: string,
    maxBytes: number,
    lock: SpoolLockOptions = {},
  ): Promise<DiskSpool> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const spool = new DiskSpool(dir, maxBytes);
    spool.#lock = await SpoolLock.acquire(dir, lock, () => spool.#makeRoomForLock());
    try {
      const names = (await readdir(dir)).sort();
      for (const name of names) {
        if (isStrayTemp(name)) {
          await rm(join(dir, name), { force: true });
          continue;
        }
        if (name.startsWith(`${LOCK_FILE}.takeover-`)) {
          await spool.#lock.clearDeadGuard(name);
          continue;
        }
        const m = entryPattern.exec(name);
        if (!m?.[1] || !m[2]) continue;
        const st = await stat(join(dir, name));
        spool.#entries.push({ key: name, snapshotId: m[2], bytes: st.size });
        spool.#totalBytes += st.size;
        spool.#nextSeq = Math.max(spool.#nextSeq, Number(m[1]) + 1);
      }
    } catch (err) {
      await spool.#lock.release();
      throw err;
    }
    return spool;
  }

  get dir(): string {
    return this.#dir;
  }
  get count(): number {
    return this.#entries.length;
  }
  get totalBytes(): number {
    return this.#totalBytes;
  }
  get droppedCount(): number {
    return this.#dropped;
  }
  get memoryCount(): number {
    return this.#inMemory.size;
  }
  /** Snapshots of a previous run dropped at open to make room for the lock (counted as dropped). */
  get droppedAtOpen(): readonly DroppedEntry[] {
    return this.#droppedAtOpen;
  }

  /**
   * Called when the lock cannot be written for a full disk, and only with no live agent's lock in
   * the way (SpoolLock.acquire). Without room for the lock the directory is never used, so what a
   * previous run spooled (often what filled the disk) would never be replayed and deleted. Room is
   * made as for a write: stray temporary files first (removed at open anyway, and a crashed write
   * may have left a big one), then the copies set aside in `rejected/`, else the oldest spooled
   * snapshot, one per call, so that no more is dropped than the lock needs. Resolves to false when
   * there is nothing left to remove.
   */
  async #makeRoomForLock(): Promise<boolean> {
    try {
      const names = (await readdir(this.#dir)).sort();
      // A live lock temp (this start's own among them) is kept, as at open.
      const strays = names.filter(isStrayTemp);
      for (const name of strays) await rm(join(this.#dir, name), { force: true });
      if (strays.length > 0) return true;
      if (await this.#removeOldestRejected(this.#droppedAtOpen)) return true;
      for (const name of names) {
        const snapshotId = entryPattern.exec(name)?.[2];
        if (snapshotId === undefined) continue;
        const { size } = await stat(join(this.#dir, name));
        await unlink(join(this.#dir, name));
        this.#dropped++;
        this.#droppedAtOpen.push({ key: name, snapshotId, bytes: size, reason: 'disk full' });
        return true;
      }
    } catch {
      // Nothing could be removed after all: the lock's own error stands.
    }
    return false;
  }

  oldest(): SpoolEntry | undefined {
    return this.#entries[0];
  }

  async put(snapshotId: string, gzipped: Buffer): Promise<PutResult> {
    if (!/^[0-9A-Za-z-]{1,64}$/.test(snapshotId)) throw new Error(`bad snapshot id ${snapshotId}`);
    const dropped: DroppedEntry[] = [];
    if (gzipped.length > this.#maxBytes) {
      this.#dropped++;
      dropped.push({ key: '', snapshotId, bytes: gzipped.length, reason: 'too big' });
      return { dropped };
    }
    while (this.#totalBytes + gzipped.length > this.#maxBytes) {
      const old = this.#entries[0];
      if (!old) break;
      await this.#drop(old, 'spool full', dropped);
    }
    const key = `${String(this.#nextSeq++).padStart(12, '0')}-${snapshotId}.json.gz`;
    const entry: SpoolEntry = { key, snapshotId, bytes: gzipped.length };
    const writeError = await this.#write(entry, gzipped, dropped);
    this.#entries.push(entry);
    this.#totalBytes += gzipped.length;
    if (writeError === undefined) {
      // Writes work again: what waits in memory goes to disk, in its place in the order.
      await this.#flush();
      return { entry, dropped };
    }
    this.#inMemory.set(entry, gzipped);
    this.#memoryBytes += gzipped.length;
    while (this.#memoryBytes > this.#memoryMaxBytes) {
      const [old] = this.#inMemory.keys();
      if (!old) break;
      await this.#drop(old, 'memory full', dropped);
    }
    return this.#entries.includes(entry) ? { entry, dropped, writeError } : { dropped, writeError };
  }

  /**
   * Writes one entry, making room on a full disk by removing the oldest files written before it
   * (never the entry itself, never a newer one). Resolves to the error when it could not.
   */
  async #write(
    entry: SpoolEntry,
    body: Buffer,
    dropped: DroppedEntry[],
  ): Promise<string | undefined> {
    for (;;) {
      try {
        await writeDurably(this.#dir, entry.key, body);
        return undefined;
      } catch (err) {
        if (DISK_FULL.has(errno(err) ?? '')) {
          if (await this.#removeOldestRejected(dropped)) continue;
          // Everything queued is older than the entry being written.
          const victim = this.#entries.find((e) => !this.#inMemory.has(e));
          if (victim) {
            await this.#drop(victim, 'disk full', dropped);
            continue;
          }
        }
        return messageOf(err);
      }
    }
  }

  /** Writes out entries held in memory, oldest first, until one fails again. */
  async #flush(): Promise<void> {
    for (const [entry, body] of this.#inMemory) {
      try {
        await writeDurably(this.#dir, entry.key, body);
      } catch {
        return;
      }
      this.#inMemory.delete(entry);
      this.#memoryBytes -= entry.bytes;
    }
  }

  /**
   * On a full disk, a copy set aside in `rejected/` goes before any snapshot still to be
   * delivered: the server failed on it every time, it is kept only for an operator's look, and it
   * was counted as rejected then. Removes the oldest and lists it in `removed`; resolves to
   * whether there was one.
   */
  async #removeOldestRejected(removed: DroppedEntry[]): Promise<boolean> {
    const dir = join(this.#dir, 'rejected');
    let names: string[];
    try {
      names = await setAsideIn(dir);
    } catch {
      return false;
    }
    for (const name of names) {
      try {
        const { size } = await stat(join(dir, name));
        await unlink(join(dir, name));
        const snapshotId = entryPattern.exec(name)?.[2] ?? '';
        removed.push({
          key: `rejected/${name}`,
          snapshotId,
          bytes: size,
          reason: 'set aside, disk full',
        });
        return true;
      } catch {
        // gone meanwhile, or not removable: the next one
      }
    }
    return false;
  }

  async #drop(entry: SpoolEntry, reason: DropReason, dropped: DroppedEntry[]): Promise<void> {
    await this.remove(entry);
    this.#dropped++;
    dropped.push({ ...entry, reason });
  }

  read(entry: SpoolEntry): Promise<Buffer> {
    const body = this.#inMemory.get(entry);
    return body ? Promise.resolve(body) : readFile(join(this.#dir, entry.key));
  }

  async remove(entry: SpoolEntry): Promise<void> {
    const i = this.#entries.indexOf(entry);
    if (i < 0) return;
    this.#entries.splice(i, 1);
    this.#totalBytes -= entry.bytes;
    if (this.#inMemory.delete(entry)) {
      this.#memoryBytes -= entry.bytes;
      return;
    }
    // A file that cannot be removed (read-only by now) is replayed after a restart, and the
    // server answers `duplicate`: nothing is stored twice.
    await rm(join(this.#dir, entry.key), { force: true }).catch(() => {});
  }

  async keepRejected(snapshotId: string, gzipped: Buffer): Promise<string | undefined> {
    const dir = join(this.#dir, 'rejected');
    const name = `${String(this.#nextSeq++).padStart(12, '0')}-${snapshotId}.json.gz`;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, name), gzipped, { mode: 0o600 });
      const kept = await setAsideIn(dir);
      for (const old of kept.slice(0, Math.max(0, kept.length - REJECTED_KEEP))) {
        await rm(join(dir, old), { force: true });
      }
      return join(dir, name);
    } catch {
      await rm(join(dir, name), { force: true }).catch(() => {});
      return undefined;
    }
  }

  async close(): Promise<number> {
    await this.#flush();
    await this.#lock?.release();
    this.#lock = undefined;
    return this.#inMemory.size;
  }
}

/** The snapshots set aside in the `rejected/` directory `dir`, oldest first. */
async function setAsideIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => entryPattern.test(n)).sort();
}

/** Writes `dir/key` through a temporary file, removed again when anything fails. */
async function writeDurably(dir: string, key: string, body: Buffer): Promise<void> {
  const tmp = join(dir, `.tmp-${key}`);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(tmp, 'wx', 0o600);
    await fh.writeFile(body);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, join(dir, key));
  } catch (err) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  try {
    fsyncDir(dir);
  } catch {
    // The file is complete and in place; only its durability across a power cut is in doubt.
  }
}

/** Makes a rename durable: the new directory entry itself must reach the disk. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Who holds a lock: a process is known by its host, its pid namespace, its pid, the boot it runs
 * in and its start time. The nonce tells one acquisition from every other. `heartbeatMs` promises
 * that the lock file's mtime is refreshed that often while its agent runs. A lock written by an
 * older agent has no nonce, host or namespace ('' once parsed), and promises no heartbeat.
 */
interface LockOwner {
  pid: number;
  bootId: string;
  startTicks: number;
  nonce?: string;
  host?: string;
  pidNs?: string;
  heartbeatMs?: number;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Fields 3 (state) and 22 (start time) of /proc/PID/stat (after the command name, which may hold
 * spaces and parentheses).
 */
function statOf(pid: number): { state?: string; startTicks?: number } {
  const text = readOptional(`/proc/${pid}/stat`);
  if (text === undefined) return {};
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[19]);
  return {
    ...(rest[0] ? { state: rest[0] } : {}),
    ...(Number.isSafeInteger(ticks) ? { startTicks: ticks } : {}),
  };
}

function startTicksOf(pid: number): number | undefined {
  return statOf(pid).startTicks;
}

/** `pid:[4026531836]`: which pid namespace this process's pids belong to. */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

/**
 * The host a lock says it was taken on: the agent's host name in the fleet once it is known
 * (`identifySpoolHost`), else the system's. In a Kubernetes pod the system's host name is the
 * pod's, which a new pod of the same node does not share; the fleet name (the node's) it does.
 */
let lockHost = hostname();

/** Names this process's locks after `hostName`, the host's identity in the fleet. */
export function identifySpoolHost(hostName: string): void {
  lockHost = hostName;
}

function currentOwner(heartbeatMs?: number): LockOwner {
  return {
    pid: process.pid,
    bootId: readOptional('/proc/sys/kernel/random/boot_id')?.trim() ?? '',
    startTicks: startTicksOf(process.pid) ?? 0,
    nonce: randomUuid(),
    host: lockHost,
    pidNs: pidNamespace(),
    ...(heartbeatMs !== undefined ? { heartbeatMs } : {}),
  };
}

/**
 * Where the owner of a lock runs, when that is not where this process runs: another host (a spool
 * directory on shared storage) or, on this host and boot, another pid namespace (another
 * container), whose pids mean nothing here. Undefined for this host and namespace, and for a lock
 * that does not say (an older agent's).
 */
function elsewhere(owner: LockOwner, me: LockOwner): string | undefined {
  if (owner.host && me.host && owner.host !== me.host) return `host ${owner.host}`;
  // A pid namespace does not outlive its boot: an earlier boot's lock is judged as before.
  if (owner.bootId && me.bootId && owner.bootId !== me.bootId) return undefined;
  if (owner.pidNs && me.pidNs && owner.pidNs !== me.pidNs) {
    return `pid namespace ${owner.pidNs} on this host`;
  }
  return undefined;
}

/**
 * Whether the process a lock names still runs. A pid is reused after the process exits and after
 * a reboot (the spool outlives both), so the boot id and the start time must match as well. An
 * owner on another host or in another pid namespace cannot be checked, and counts as alive.
 */
function isAlive(owner: LockOwner, me: LockOwner): boolean {
  if (elsewhere(owner, me) !== undefined) return true;
  if (owner.bootId !== '' && me.bootId !== '' && owner.bootId !== me.bootId) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (errno(err) !== 'EPERM') return false;
  }
  const { state, startTicks } = statOf(owner.pid);
  // A zombie (killed, not yet reaped by its parent) or a dying process still answers kill(pid,
  // 0), but holds nothing any more.
  if (state === 'Z' || state === 'X') return false;
  return startTicks === undefined || startTicks === owner.startTicks;
}

function parseOwner(text: string | undefined): LockOwner | undefined {
  try {
    const o = JSON.parse(text ?? '') as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || !Number.isSafeInteger(o.pid) || o.pid <= 0) return undefined;
    const { heartbeatMs } = o;
    // Anything but a whole positive number of milliseconds is no promise: such a lock is never
    // judged by its age.
    const promised =
      typeof heartbeatMs === 'number' && Number.isSafeInteger(heartbeatMs) && heartbeatMs > 0;
    return {
      pid: o.pid,
      bootId: typeof o.bootId === 'string' ? o.bootId : '',
      startTicks: typeof o.startTicks === 'number' ? o.startTicks : -1,
      host: typeof o.host === 'string' ? o.host : '',
      pidNs: typeof o.pidNs === 'string' ? o.pidNs : '',
      ...(promised ? { heartbeatMs } : {}),
    };
  } catch {
    return undefined;
  }
}

/** A lock or guard file read through one descriptor, so that its text and mtime belong together. */
interface LockFile {
  text: string;
  mtimeMs: number;
}

function readLockFile(path: string): LockFile | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    // Asked after the open, which has a network file system fetch the attributes afresh
    // (close-to-open) instead of answering from its cache, where a heartbeat may not show yet.
    const { mtimeMs } = fstatSync(fd);
    return { text: readFileSync(fd, 'utf8'), mtimeMs };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * What this process has seen of other namespaces' and hosts' lock and guard files, by path: the
 * text and mtime last read, and since when (on the monotonic clock) they have not changed. Kept
 * across starts, so that the tries of a deferred spool directory, none of which waits, add up.
 */
const watched = new Map<string, LockFile & { sinceMono: number }>();

/** How long `file` at `path` has been seen unchanged: 0 on the first read, or after a heartbeat. */
function unchangedFor(path: string, file: LockFile): number {
  const now = performance.now();
  const seen = watched.get(path);
  // Another mtime of the same text is a heartbeat, whichever way it moved (a clock stepped back).
  if (seen?.text === file.text && seen.mtimeMs === file.mtimeMs) return now - seen.sinceMono;
  watched.set(path, { ...file, sinceMono: now });
  return 0;
}

function staleLimit(heartbeatMs: number, staleMs: number): number {
  return Math.max(staleMs, STALE_HEARTBEATS * heartbeatMs);
}

/**
 * Whether the heartbeat of a lock (or guard) that promises one has stopped: it has been watched
 * not to come for the stale limit, on this process's monotonic clock, which no clock step moves
 * and which compares nothing with another host's clock. A file whose mtime is older than the
 * limit by the wall clock (an agent killed long ago) is gone sooner, but only once a few of its
 * heartbeats were watched not to come: a clock stepped forward makes every mtime look old, and
 * would otherwise take over a live agent; one stepped back, or another host's clock ahead, makes
 * the mtime look young, and the watch alone decides.
 */
function heartbeatStopped(
  heartbeatMs: number,
  path: string,
  file: LockFile,
  staleMs: number,
): boolean {
  const limit = staleLimit(heartbeatMs, staleMs);
  const unchangedMs = unchangedFor(path, file);
  if (unchangedMs >= limit) return true;
  return (
    unchangedMs >= Math.min(limit, WATCHED_HEARTBEATS * heartbeatMs) &&
    Date.now() - file.mtimeMs >= limit
  );
}

/**
 * Whether the agent a lock or guard file names still holds it: judged by its pid on this host
 * and in this pid namespace, by its heartbeat elsewhere; an older agent elsewhere, which promises
 * none, cannot be judged and counts as holding it.
 */
function stillHolds(
  owner: LockOwner,
  path: string,
  file: LockFile,
  me: LockOwner,
  staleMs: number,
): boolean {
  if (elsewhere(owner, me) === undefined) return isAlive(owner, me);
  if (owner.heartbeatMs === undefined) return true;
  return !heartbeatStopped(owner.heartbeatMs, path, file, staleMs);
}

/** How often a waiting start reads a lock again: often enough to see the limit pass on time. */
function pollInterval(limit: number): number {
  return Math.max(5, Math.min(LOCK_POLL_MS, limit / 20));
}

/**
 * Refreshes the mtime of the lock this process holds, through the lock file's own descriptor:
 * never another agent's lock, should one have replaced it.
 */
class Heartbeat {
  readonly #handle: FileHandle;
  readonly #timer: NodeJS.Timeout;
  #beating: Promise<void> | undefined;

  constructor(handle: FileHandle, everyMs: number) {
    this.#handle = handle;
    this.#timer = setInterval(() => {
      void this.beat();
    }, everyMs);
    // A process that is done exits: the lock it leaves is taken over once its heartbeat stops.
    this.#timer.unref();
  }

  beat(): Promise<void> {
    // One at a time: a beat that hangs (a network file system) does not pile others up behind.
    this.#beating ??= (async () => {
      const now = new Date();
      try {
        await this.#handle.utimes(now, now);
      } catch {
        // Tried again at the next beat; a lock that misses them all for the stale limit is
        // taken over like that of an agent that is gone.
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#beating;
    await this.#handle.close().catch(() => {});
  }
}

/**
 * The temporary file a lock is made whole in: `.tmp-lock-PID-<random>`. The pid alone is not
 * unique: agents in containers with pid namespaces of their own (each pid 1, say) that start on
 * one spool directory at the same instant would write the same file, and one would link the
 * other's lock into place (or find its own removed). The pid stays in the name for the check of
 * leftovers at open (isLiveLockTemp).
 */
function lockTempName(): string {
  return `.tmp-lock-${process.pid}-${randomUuid().replaceAll('-', '')}`;
}

/**
 * Another agent's lock file in the making is not a stray temporary file: one whose pid runs is
 * kept. Both forms are recognised, `.tmp-lock-PID-<random>` and an older agent's `.tmp-lock-PID`.
 */
function isLiveLockTemp(name: string): boolean {
  const pid = /^\.tmp-lock-(\d+)(?:-[0-9a-f]+)?$/.exec(name)?.[1];
  if (pid === undefined) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

/**
 * A temporary file no one will finish: a snapshot's or a lock's whose writer is gone (a crash, a
 * write that failed). Removed at open, and first when a full disk leaves no room for the lock.
 */
function isStrayTemp(name: string): boolean {
  return name.startsWith('.tmp-') && !isLiveLockTemp(name);
}

/** The file that guards the takeover of `name` while it holds `text`: FNV-1a of the text. */
export function takeoverGuardName(name: string, text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return `${name}.takeover-${(h >>> 0).toString(16).padStart(8, '0')}`;
}

/** Takeovers of a takeover guard left by a process that died holding it; deeper is not tried. */
const MAX_GUARD_DEPTH = 2;

/** How long a start waits for another agent's takeover of the same stale lock to finish. */
const TAKEOVER_WAIT_MS = 5_000;

/** Locks held by this process, by directory: opening a spool again in the same process is allowed. */
const held = new Map<string, { count: number; text: string; heartbeat: Heartbeat }>();

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `lock` in the spool directory, naming the process that uses it. It is made whole in a temporary
 * file and linked into place, which fails when a lock exists, so no reader ever sees a half
 * written one and two agents cannot both create it.
 *
 * A lock whose process is gone (crash, reboot) is taken over, and that must not race: two agents
 * that both read the stale lock and then each removed "the lock" by name could remove the other's
 * fresh one, and both would believe they hold it. So the stale lock is removed only under a guard
 * made for that lock's exact text: `lock.takeover-<hash of the text>`, created with link (one
 * agent succeeds, the others get EEXIST), and only after reading, under the guard, that the lock
 * still holds that text. Nobody else removes a lock of that text: its owner is gone, and the guard
 * is one holder's at a time; and a lock's text is never written again (it carries a random
 * nonce). Then the taker links its own lock into place like any start, which fails if another
 * agent got in first. A start that finds the guard held by a live agent waits and reads the lock
 * again; a guard whose holder died is itself taken over the same way (under a guard for the
 * guard's text).
 *
 * The pid of a lock written in another pid namespace (another container) or on another host
 * means nothing here. So the holder refreshes the lock file's mtime every `heartbeatMs`, and says
 * so in the lock; such a lock whose heartbeat has stopped for the stale limit is gone
 * (heartbeatStopped), and is taken over as above. A start that finds one still beating waits for
 * it, up to that limit (a container killed and started again in the same boot meets its own old
 * lock, which is never refreshed again); one still beating after that is another live agent. An
 * older agent's lock from elsewhere promises no heartbeat, and its mtime is only its start: it is
 * never taken over.
 */
class SpoolLock {
  readonly #dir: string;
  private constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * `makeRoom` is called when the lock cannot be written for a full disk, and only while no lock
   * or the one found gone is in place; resolves to whether it freed anything. The lock is then
   * judged again (a live agent's lock that came meanwhile is never made room for) and written
   * again.
   */
  static async acquire(
    dir: string,
    opts: SpoolLockOptions,
    makeRoom?: () => Promise<boolean>,
  ): Promise<SpoolLock> {
    const path = join(dir, LOCK_FILE);
    const mine = held.get(dir);
    if (mine !== undefined) {
      mine.count++;
      return new SpoolLock(dir);
    }
    const heartbeatMs = opts.heartbeatMs ?? LOCK_HEARTBEAT_MS;
    const staleMs = opts.staleMs ?? LOCK_STALE_MS;
    const wait = opts.wait ?? true;
    const me = currentOwner(heartbeatMs);
    const text = `${JSON.stringify(me)}\n`;
    const tmp = join(dir, lockTempName());
    /** The lock made whole under a temporary name, open: once in place, its heartbeat's. */
    let handle: FileHandle | undefined;
    /** Set from the first write on: a write that failed (ENOSPC) may have left the file. */
    let tried = false;
    let acquired = false;
    /** The lock made whole under a temporary name; written only once it is needed. */
    const ready = async (): Promise<FileHandle> => {
      if (handle) return handle;
      tried = true;
      await writeFile(tmp, text, { mode: 0o600 });
      handle = await open(tmp, 'r');
      await handle.sync();
      return handle;
    };
    const started = performance.now();
    /** The text of the lock from elsewhere this start has said it waits for. */
    let waitingFor: string | undefined;
    /** A lock from elsewhere this start removed, said once its own lock is in place. */
    let removedForeign: ForeignLockEvent | undefined;
    let guardDeadline: number | undefined;
    /**
     * After a write of the lock failed with `err`: whether to go round again, room made (or
     * another lock in place by now, to be judged first). `judged` is the text of the lock found
     * gone this round, undefined when there was none.
     */
    const madeRoom = async (err: unknown, judged: string | undefined): Promise<boolean> => {
      if (!makeRoom || !DISK_FULL.has(errno(err) ?? '')) return false;
      if (readLockFile(path)?.text !== judged) return true;
      return makeRoom();
    };
    try {
      for (;;) {
        // A live owner is named even when the directory cannot be written.
        const found = readLockFile(path);
        if (found !== undefined) {
          // Another agent's lock came into place after this start removed the one before.
          removedForeign = undefined;
          const owner = parseOwner(found.text);
          const away = owner && elsewhere(owner, me);
          let foreign: ForeignLockEvent | undefined;
          if (owner && away) {
            if (owner.heartbeatMs === undefined) throw new SpoolBusyError(dir, owner.pid, away);
            const limit = staleLimit(owner.heartbeatMs, staleMs);
            foreign = {
              kind: 'waiting',
              lock: path,
              pid: owner.pid,
              elsewhere: away,
              staleMs: limit,
            };
            if (!heartbeatStopped(owner.heartbeatMs, path, found, staleMs)) {
              if (!wait || performance.now() - started >= limit) {
                throw new SpoolBusyError(dir, owner.pid, away, { staleMs: limit, waited: wait });
              }
              if (waitingFor !== found.text) {
                waitingFor = found.text;
                opts.onForeignLock?.(foreign);
              }
              await sleep(pollInterval(limit), undefined, { signal: opts.signal });
              continue;
            }
          } else if (owner && owner.pid !== me.pid && isAlive(owner, me)) {
            throw new SpoolBusyError(dir, owner.pid);
          }
          // Left by a process that is gone (or by this one, in an earlier life of the same pid).
          let taken: 'removed' | LockOwner;
          try {
            await ready();
            taken = await removeUnderGuard(dir, LOCK_FILE, found.text, tmp, me, staleMs, 0);
          } catch (err) {
            if (await madeRoom(err, found.text)) continue;
            throw err;
          }
          if (taken === 'removed') {
            removedForeign = foreign && { ...foreign, kind: 'taken over' };
            continue;
          }
          // Another agent is taking this stale lock over: its lock will be there shortly. A
          // taker elsewhere holds the guard for milliseconds too, and one that died holding it
          // is judged by its heartbeat, as a lock is: that may take the stale limit.
          const takerAway = elsewhere(taken, me);
          const takerLimit =
            takerAway !== undefined && taken.heartbeatMs !== undefined
              ? staleLimit(taken.heartbeatMs, staleMs)
              : undefined;
          guardDeadline ??= performance.now() + TAKEOVER_WAIT_MS + (wait ? (takerLimit ?? 0) : 0);
          if (performance.now() > guardDeadline) {
            throw new SpoolBusyError(
              dir,
              taken.pid,
              takerAway,
              takerLimit !== undefined ? { staleMs: takerLimit, waited: wait } : undefined,
            );
          }
          if (takerLimit !== undefined && wait) {
            await sleep(pollInterval(takerLimit), undefined, { signal: opts.signal });
          } else {
            await pause(5 + Math.random() * 10);
          }
          continue;
        }
        let fh: FileHandle;
        try {
          fh = await ready();
          await link(tmp, path);
        } catch (err) {
          // Another agent linked its lock first: read whose it is.
          if (errno(err) === 'EEXIST' || (await madeRoom(err, undefined))) continue;
          throw err;
        }
        acquired = true;
        const heartbeat = new Heartbeat(fh, heartbeatMs);
        held.set(dir, { count: 1, text, heartbeat });
        watched.delete(path);
        // Written before any wait for the lock it replaces: its mtime must say now.
        await heartbeat.beat();
        if (removedForeign) opts.onForeignLock?.(removedForeign);
        return new SpoolLock(dir);
      }
    } finally {
      if (!acquired) await handle?.close().catch(() => {});
      if (tried) await unlink(tmp).catch(() => {});
    }
  }

  /**
   * A takeover guard (`lock.takeover-…`) whose holder died is otherwise never removed: it guards
   * a lock text that is gone. It is removed under a guard of its own, linked from this lock.
   */
  async clearDeadGuard(name: string): Promise<void> {
    const text = readOptional(join(this.#dir, name));
    if (text === undefined) return;
    const me = currentOwner();
    const holder = parseOwner(text);
    if (holder && isAlive(holder, me)) return;
    await removeUnderGuard(
      this.#dir,
      name,
      text,
      join(this.#dir, LOCK_FILE),
      me,
      LOCK_STALE_MS,
      1,
    ).catch(() => {});
  }

  async release(): Promise<void> {
    const mine = held.get(this.#dir);
    if (!mine) return;
    if (mine.count > 1) {
      mine.count--;
      return;
    }
    held.delete(this.#dir);
    await mine.heartbeat.stop();
    const path = join(this.#dir, LOCK_FILE);
    if (readOptional(path) === mine.text) await unlink(path).catch(() => {});
  }
}

/**
 * Removes `dir/name` if it still holds `text`, under the guard for that text (see SpoolLock).
 * `tmp` is the caller's own lock file, linked as the guard so that it names its holder. Resolves
 * to the owner of the guard when another live agent holds it.
 */
async function removeUnderGuard(
  dir: string,
  name: string,
  text: string,
  tmp: string,
  me: LockOwner,
  staleMs: number,
  depth: number,
): Promise<'removed' | LockOwner> {
  const guardName = takeoverGuardName(name, text);
  const guard = join(dir, guardName);
  for (;;) {
    try {
      await link(tmp, guard);
      break;
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
    }
    const guardFile = readLockFile(guard);
    // Released between the two calls: try again.
    if (guardFile === undefined) continue;
    const holder = parseOwner(guardFile.text);
    if (holder && stillHolds(holder, guard, guardFile, me, staleMs)) return holder;
    // Its holder died during a takeover (a guard is held for milliseconds).
    if (depth >= MAX_GUARD_DEPTH) return holder ?? me;
    const freed = await removeUnderGuard(
      dir,
      guardName,
      guardFile.text,
      tmp,
      me,
      staleMs,
      depth + 1,
    );
    if (freed !== 'removed') return freed;
  }
  try {
    if (readOptional(join(dir, name)) === text) await unlink(join(dir, name));
    watched.delete(join(dir, name));
  } finally {
    await unlink(guard).catch(() => {});
  }
  return 'removed';
}

/**
 * A spool directory that could not be opened at start (a full disk, read-only, no permission):
 * the queue waits in memory, bounded like MemorySpool, and the directory is tried again by
 * `reopen`. Once it opens, the snapshots a previous run left there are replayed first, then the
 * ones that waited in memory (written to the directory, in their order), then everything new.
 * The caller calls `reopen` only where no entry of the queue is being worked on (the sender,
 * between pushes), since the entries change over.
 */
export class DeferredDiskSpool implements Spool {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #monoMs: () => number;
  readonly #retryMs: number;
  readonly #lock: SpoolLockOptions;
  readonly #memory: MemorySpool;
  #disk: DiskSpool | undefined;
  #nextTryMono: number;

  constructor(
    dir: string,
    maxBytes: number,
    opts: { monoMs: () => number; retryMs: number; lock?: SpoolLockOptions },
  ) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
    this.#monoMs = opts.monoMs;
    this.#retryMs = opts.retryMs;
    // A try runs between pushes and must not block them: a lock of another namespace or host is
    // watched from one try to the next instead of waited for.
    this.#lock = { ...opts.lock, wait: false };
    this.#memory = new MemorySpool(Math.min(maxBytes, MEMORY_QUEUE_MAX_BYTES));
    // It has just failed: the first try again is one interval later.
    this.#nextTryMono = opts.monoMs() + opts.retryMs;
  }

  get #current(): Spool {
    return this.#disk ?? this.#memory;
  }
  /** Whether the directory is in use by now. */
  get opened(): boolean {
    return this.#disk !== undefined;
  }
  get count(): number {
    return this.#current.count;
  }
  get totalBytes(): number {
    return this.#current.totalBytes;
  }
  get droppedCount(): number {
    return this.#memory.droppedCount + (this.#disk?.droppedCount ?? 0);
  }
  get memoryCount(): number {
    return this.#current.memoryCount;
  }
  oldest(): SpoolEntry | undefined {
    return this.#current.oldest();
  }
  put(snapshotId: string, gzipped: Buffer): Promise<PutResult> {
    return this.#current.put(snapshotId, gzipped);
  }
  read(entry: SpoolEntry): Promise<Buffer> {
    return this.#current.read(entry);
  }
  remove(entry: SpoolEntry): Promise<void> {
    return this.#current.remove(entry);
  }
  keepRejected(snapshotId: string, gzipped: Buffer): Promise<string | undefined> {
    return this.#current.keepRejected(snapshotId, gzipped);
  }

  async reopen(force = false): Promise<ReopenResult | undefined> {
    if (this.#disk) return undefined;
    const now = this.#monoMs();
    if (!force && now < this.#nextTryMono) return undefined;
    this.#nextTryMono = now + this.#retryMs;
    let disk: DiskSpool;
    try {
      disk = await DiskSpool.open(this.#dir, this.#maxBytes, this.#lock);
    } catch {
      // Still full, read-only or taken by another agent: the queue stays in memory.
      return undefined;
    }
    const result: ReopenResult = {
      dir: this.#dir,
      restored: disk.count,
      moved: 0,
      dropped: [...disk.droppedAtOpen],
    };
    // Everything in memory is newer than what the directory holds: it queues behind.
    for (let e = this.#memory.oldest(); e; e = this.#memory.oldest()) {
      const put = await disk.put(e.snapshotId, await this.#memory.read(e));
      await this.#memory.remove(e);
      result.moved++;
      result.dropped.push(...put.dropped);
      if (put.writeError !== undefined) result.writeError = put.writeError;
    }
    this.#disk = disk;
    return result;
  }

  /** At shutdown the directory gets one more try, so that what waits in memory is not lost. */
  async close(): Promise<number> {
    await this.reopen(true);
    return this.#current.close();
  }
}

/** The same bounded queue in memory, for when no spool directory can be used. */
export class MemorySpool implements Spool {
  readonly #maxBytes: number;
  readonly #entries: { entry: SpoolEntry; body: Buffer }[] = [];
  #seq = 0;
  #totalBytes = 0;
  #dropped = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }
  get count(): number {
    return this.#entries.length;
  }
  get totalBytes(): number {
    return this.#totalBytes;
  }
  get droppedCount(): number {
    return this.#dropped;
  }
  get memoryCount(): number {
    return this.#entries.length;
  }
  oldest(): SpoolEntry | undefined {
    return this.#entries[0]?.entry;
  }
  async put(snapshotId: string, gzipped: Buffer): Promise<PutResult> {
    const dropped: DroppedEntry[] = [];
    if (gzipped.length > this.#maxBytes) {
      this.#dropped++;
      return { dropped: [{ key: '', snapshotId, bytes: gzipped.length, reason: 'too big' }] };
    }
    while (this.#totalBytes + gzipped.length > this.#maxBytes) {
      const old = this.#entries.shift();
      if (!old) break;
      this.#totalBytes -= old.entry.bytes;
      this.#dropped++;
      dropped.push({ ...old.entry, reason: 'memory full' });
    }
    const entry = { key: String(++this.#seq), snapshotId, bytes: gzipped.length };
    this.#entries.push({ entry, body: gzipped });
    this.#totalBytes += gzipped.length;
    return { entry, dropped };
  }
  async read(entry: SpoolEntry): Promise<Buffer> {
    const found = this.#entries.find((e) => e.entry === entry);
    if (!found) {
      throw Object.assign(new Error(`spool entry ${entry.key} is gone`), { code: 'ENOENT' });
    }
    return found.body;
  }
  async remove(entry: SpoolEntry): Promise<void> {
    const i = this.#entries.findIndex((e) => e.entry === entry);
    if (i < 0) return;
    this.#totalBytes -= entry.bytes;
    this.#entries.splice(i, 1);
  }
  async keepRejected(): Promise<string | undefined> {
    return undefined;
  }
  async close(): Promise<number> {
    return this.#entries.length;
  }
}
