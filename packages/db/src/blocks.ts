import { and, asc, desc, eq, gte, isNull, lte } from 'drizzle-orm';
import type { Db } from './client.ts';
import { decodeSampleBlock, indexByPid, type StoredSample } from './codec/sample-block.ts';
import { sampleBlocks } from './schema/index.ts';

/** How far back a delta block may reach for its keyframe. */
export const KEYFRAME_INTERVAL_MS = 3_600_000;

export interface DecodedBlock {
  hostId: number;
  takenAtMs: number;
  snapshotId: string;
  bootId: string;
  isKeyframe: boolean;
  samples: StoredSample[];
}

export interface Keyframe {
  hostId: number;
  takenAtMs: number;
  snapshotId: string;
  bootId: string;
  byPid: Map<number, StoredSample>;
  /**
   * Each process's name and memory limit at the keyframe (`identityMark`), when this server made
   * it from a snapshot: a delta whose process differs from it (an exec, a new cgroup limit)
   * writes that incarnation's metadata at once instead of at the next keyframe. Absent for a
   * keyframe read back from the database.
   */
  identities?: Map<number, string>;
}

type BlockRow = {
  hostId: number;
  takenAtMs: number;
  snapshotId: string;
  bootId: string;
  baseTakenAtMs: number | null;
  baseSnapshotId: string | null;
  data: Uint8Array;
};

const blockColumns = {
  hostId: sampleBlocks.hostId,
  takenAtMs: sampleBlocks.takenAtMs,
  snapshotId: sampleBlocks.snapshotId,
  bootId: sampleBlocks.bootId,
  baseTakenAtMs: sampleBlocks.baseTakenAtMs,
  baseSnapshotId: sampleBlocks.baseSnapshotId,
  data: sampleBlocks.data,
};

const KEYFRAME_CACHE_MAX = 4096;

/**
 * Keyframes are immutable once committed, so decoded ones are kept (bounded), per database
 * object: the same host id in two databases is two different hosts.
 */
export interface BlockCache {
  keyframes: Map<string, Map<number, StoredSample>>;
  /** latest committed keyframe per host: a hint, the database stays the authority */
  latest: Map<number, Keyframe>;
  /** host name → id of hosts already stored (ids never change) */
  hostIds: Map<string, number>;
}

const caches = new WeakMap<object, BlockCache>();

/** Forgets remembered keyframes (after partitions were dropped). */
export function forgetBlockCache(db: Db): void {
  caches.delete(db);
}

export function blockCache(db: Db): BlockCache {
  let c = caches.get(db);
  if (!c) {
    c = { keyframes: new Map(), latest: new Map(), hostIds: new Map() };
    caches.set(db, c);
  }
  return c;
}

function cacheKey(hostId: number, takenAtMs: number, snapshotId: string): string {
  return `${hostId}/${takenAtMs}/${snapshotId}`;
}

export function rememberKeyframe(cache: BlockCache, k: Keyframe): void {
  const keyframeCache = cache.keyframes;
  if (keyframeCache.size >= KEYFRAME_CACHE_MAX) {
    const oldest = keyframeCache.keys().next();
    if (!oldest.done) keyframeCache.delete(oldest.value);
  }
  keyframeCache.set(cacheKey(k.hostId, k.takenAtMs, k.snapshotId), k.byPid);
}

export function noteLatestKeyframe(cache: BlockCache, k: Keyframe): void {
  const latestKeyframe = cache.latest;
  const prev = latestKeyframe.get(k.hostId);
  if (!prev || prev.takenAtMs <= k.takenAtMs) latestKeyframe.set(k.hostId, k);
  if (latestKeyframe.size > KEYFRAME_CACHE_MAX) {
    const oldest = latestKeyframe.keys().next();
    if (!oldest.done) latestKeyframe.delete(oldest.value);
  }
}

/** A remembered committed keyframe that a block at `takenAtMs` may use as its base. */
export function keyframeHint(
  cache: BlockCache,
  hostId: number,
  bootId: string,
  takenAtMs: number,
  dayStartMs: number,
): Keyframe | undefined {
  const lowest = Math.max(takenAtMs - KEYFRAME_INTERVAL_MS, dayStartMs);
  const hint = cache.latest.get(hostId);
  if (hint && hint.bootId === bootId && hint.takenAtMs <= takenAtMs && hint.takenAtMs >= lowest) {
    return hint;
  }
  return undefined;
}

/**
 * The keyframe a new block at `takenAtMs` may be a delta against: same host and boot, at or
 * before it, within KEYFRAME_INTERVAL_MS and in the same UTC day (so both live in one
 * partition). Always asked of the database: a remembered keyframe may have been dropped with
 * its partition by another replica's retention (decoded keyframes are still reused).
 */
export async function findKeyframe(
  db: Db,
  cache: BlockCache,
  hostId: number,
  bootId: string,
  takenAtMs: number,
  dayStartMs: number,
): Promise<Keyframe | undefined> {
  const lowest = Math.max(takenAtMs - KEYFRAME_INTERVAL_MS, dayStartMs);
  const [row] = await db
    .select(blockColumns)
    .from(sampleBlocks)
    .where(
      and(
        eq(sampleBlocks.hostId, hostId),
        gte(sampleBlocks.takenAtMs, lowest),
        lte(sampleBlocks.takenAtMs, takenAtMs),
        eq(sampleBlocks.bootId, bootId),
        isNull(sampleBlocks.baseTakenAtMs),
      ),
    )
    .orderBy(desc(sampleBlocks.takenAtMs))
    .limit(1);
  if (!row) return undefined;
  // The processes' names at the keyframe are known when this server made it.
  const made = cache.latest.get(hostId);
  const identities =
    made?.snapshotId === row.snapshotId && made.takenAtMs === row.takenAtMs
      ? made.identities
      : undefined;
  const k: Keyframe = {
    hostId,
    takenAtMs: row.takenAtMs,
    snapshotId: row.snapshotId,
    bootId: row.bootId,
    byPid: keyframeSamples(cache, row),
    ...(identities === undefined ? {} : { identities }),
  };
  return k;
}

function keyframeSamples(cache: BlockCache, row: BlockRow): Map<number, StoredSample> {
  const key = cacheKey(row.hostId, row.takenAtMs, row.snapshotId);
  let byPid = cache.keyframes.get(key);
  if (!byPid) {
    byPid = indexByPid(decodeSampleBlock(row.data));
    rememberKeyframe(cache, { ...row, byPid });
  }
  return byPid;
}

async function decodeRows(db: Db, rows: BlockRow[]): Promise<DecodedBlock[]> {
  const cache = blockCache(db);
  const present = new Map<string, BlockRow>();
  for (const r of rows) present.set(cacheKey(r.hostId, r.takenAtMs, r.snapshotId), r);
  const out: DecodedBlock[] = [];
  for (const r of rows) {
    let base: Map<number, StoredSample> | undefined;
    if (r.baseTakenAtMs !== null && r.baseSnapshotId !== null) {
      const key = cacheKey(r.hostId, r.baseTakenAtMs, r.baseSnapshotId);
      base = cache.keyframes.get(key);
      if (!base) {
        let baseRow = present.get(key);
        if (!baseRow) {
          [baseRow] = await db
            .select(blockColumns)
            .from(sampleBlocks)
            .where(
              and(
                eq(sampleBlocks.hostId, r.hostId),
                eq(sampleBlocks.takenAtMs, r.baseTakenAtMs),
                eq(sampleBlocks.snapshotId, r.baseSnapshotId),
              ),
            );
        }
        if (!baseRow) throw new Error(`sample block base ${key} is missing`);
        base = keyframeSamples(cache, baseRow);
      }
    }
    out.push({
      hostId: r.hostId,
      takenAtMs: r.takenAtMs,
      snapshotId: r.snapshotId,
      bootId: r.bootId,
      isKeyframe: r.baseTakenAtMs === null,
      samples:
        r.baseTakenAtMs === null
          ? [...keyframeSamples(cache, r).values()]
          : decodeSampleBlock(r.data, base),
    });
  }
  return out;
}

/** Every block of a host with `fromMs <= takenAtMs <= toMs`, oldest first, decoded. */
export async function readBlocks(
  db: Db,
  hostId: number,
  fromMs: number,
  toMs: number,
): Promise<DecodedBlock[]> {
  const rows = await db
    .select(blockColumns)
    .from(sampleBlocks)
    .where(
      and(
        eq(sampleBlocks.hostId, hostId),
        gte(sampleBlocks.takenAtMs, fromMs),
        lte(sampleBlocks.takenAtMs, toMs),
      ),
    )
    .orderBy(asc(sampleBlocks.takenAtMs), asc(sampleBlocks.snapshotId));
  return decodeRows(db, rows);
}

/** The blocks (all parts) of a host's newest snapshot time at or before `atMs`. */
export async function readLatestBlocks(
  db: Db,
  hostId: number,
  atMs = Number.MAX_SAFE_INTEGER,
): Promise<DecodedBlock[]> {
  const [latest] = await db
    .select({ t: sampleBlocks.takenAtMs })
    .from(sampleBlocks)
    .where(and(eq(sampleBlocks.hostId, hostId), lte(sampleBlocks.takenAtMs, atMs)))
    .orderBy(desc(sampleBlocks.takenAtMs))
    .limit(1);
  if (!latest) return [];
  return readBlocks(db, hostId, latest.t, latest.t);
}
