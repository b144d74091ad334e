import { closeSync, fsyncSync, openSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** One stored snapshot: gzip of its JSON, kept under the snapshot's own id. */
export interface SpoolEntry {
  readonly key: string;
  readonly snapshotId: string;
  readonly bytes: number;
}

/**
 * Snapshots that could not be pushed yet, oldest first, bounded in bytes. When a new entry does not
 * fit, the oldest are dropped (and counted): recent data is worth more to a leak ranking than old.
 */
export interface Spool {
  readonly count: number;
  readonly totalBytes: number;
  /** Entries dropped to make room since the agent started (reported in the next snapshot). */
  readonly droppedCount: number;
  oldest(): SpoolEntry | undefined;
  put(snapshotId: string, gzipped: Buffer): Promise<{ dropped: SpoolEntry[] }>;
  read(entry: SpoolEntry): Promise<Buffer>;
  remove(entry: SpoolEntry): Promise<void>;
}

const entryPattern = /^(\d{12})-([0-9A-Za-z-]{1,64})\.json\.gz$/;

/**
 * One file per snapshot, `NNNNNNNNNNNN-<snapshotId>.json.gz`. The sequence number gives the replay
 * order and survives restarts (the next number continues after the highest on disk). Files are
 * written to a temporary name, fsynced, renamed, and the directory fsynced, so a crash leaves
 * either the whole file or none; stray temporary files are removed at open.
 */
export class DiskSpool implements Spool {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #entries: SpoolEntry[] = [];
  #nextSeq = 1;
  #totalBytes = 0;
  #dropped = 0;

  private constructor(dir: string, maxBytes: number) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
  }

  static async open(dir: string, maxBytes: number): Promise<DiskSpool> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const spool = new DiskSpool(dir, maxBytes);
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      if (name.startsWith('.tmp-')) {
        await rm(join(dir, name), { force: true });
        continue;
      }
      const m = entryPattern.exec(name);
      if (!m?.[1] || !m[2]) continue;
      const st = await stat(join(dir, name));
      spool.#entries.push({ key: name, snapshotId: m[2], bytes: st.size });
      spool.#totalBytes += st.size;
      spool.#nextSeq = Math.max(spool.#nextSeq, Number(m[1]) + 1);
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

  oldest(): SpoolEntry | undefined {
    return this.#entries[0];
  }

  async put(snapshotId: string, gzipped: Buffer): Promise<{ dropped: SpoolEntry[] }> {
    if (!/^[0-9A-Za-z-]{1,64}$/.test(snapshotId)) throw new Error(`bad snapshot id ${snapshotId}`);
    const dropped: SpoolEntry[] = [];
    if (gzipped.length > this.#maxBytes) {
      this.#dropped++;
      dropped.push({ key: '', snapshotId, bytes: gzipped.length });
      return { dropped };
    }
    while (this.#totalBytes + gzipped.length > this.#maxBytes) {
      const old = this.#entries[0];
      if (!old) break;
      await this.remove(old);
      this.#dropped++;
      dropped.push(old);
    }
    const key = `${String(this.#nextSeq++).padStart(12, '0')}-${snapshotId}.json.gz`;
    const tmp = join(this.#dir, `.tmp-${key}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(gzipped);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.#dir, key));
    fsyncDir(this.#dir);
    this.#entries.push({ key, snapshotId, bytes: gzipped.length });
    this.#totalBytes += gzipped.length;
    return { dropped };
  }

  read(entry: SpoolEntry): Promise<Buffer> {
    return readFile(join(this.#dir, entry.key));
  }

  async remove(entry: SpoolEntry): Promise<void> {
    const i = this.#entries.indexOf(entry);
    if (i < 0) return;
    this.#entries.splice(i, 1);
    this.#totalBytes -= entry.bytes;
    await rm(join(this.#dir, entry.key), { force: true });
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
  oldest(): SpoolEntry | undefined {
    return this.#entries[0]?.entry;
  }
  async put(snapshotId: string, gzipped: Buffer): Promise<{ dropped: SpoolEntry[] }> {
    const dropped: SpoolEntry[] = [];
    if (gzipped.length > this.#maxBytes) {
      this.#dropped++;
      return { dropped: [{ key: '', snapshotId, bytes: gzipped.length }] };
    }
    while (this.#totalBytes + gzipped.length > this.#maxBytes) {
      const old = this.#entries.shift();
      if (!old) break;
      this.#totalBytes -= old.entry.bytes;
      this.#dropped++;
      dropped.push(old.entry);
    }
    const entry = { key: String(++this.#seq), snapshotId, bytes: gzipped.length };
    this.#entries.push({ entry, body: gzipped });
    this.#totalBytes += gzipped.length;
    return { dropped };
  }
  async read(entry: SpoolEntry): Promise<Buffer> {
    const found = this.#entries.find((e) => e.entry === entry);
    if (!found) throw new Error(`spool entry ${entry.key} is gone`);
    return found.body;
  }
  async remove(entry: SpoolEntry): Promise<void> {
    const i = this.#entries.findIndex((e) => e.entry === entry);
    if (i < 0) return;
    this.#totalBytes -= entry.bytes;
    this.#entries.splice(i, 1);
  }
}
