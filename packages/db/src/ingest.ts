import { hash } from 'node:crypto';
import {
  LIMITS,
  type Mapping,
  type ProcessRecord,
  type PushResult,
  processStartMs,
  type Snapshot,
} from '@fleetpmap/protocol';
import { sql } from 'drizzle-orm';
import {
  blockCache,
  findKeyframe,
  forgetBlockCache,
  type Keyframe,
  keyframeHint,
  noteLatestKeyframe,
  rememberKeyframe,
} from './blocks.ts';
import { type Db, queryRows } from './client.ts';
import { encodeMapping, mappingHash } from './codec/mapping.ts';
import { encodeSampleBlock, indexByPid, type StoredSample } from './codec/sample-block.ts';
import {
  DAY_MS,
  effectiveRetention,
  ensurePartitionsFor,
  forgetEnsuredPartitions,
  oldestKeptDayMs,
  type Retention,
} from './partitions.ts';
import type { IncarnationInfo } from './queries.ts';
import { fullMaps, hosts, incarnations, mapEntries, sampleBlocks } from './schema/index.ts';

export interface IngestOptions {
  /** the server's clock (ms); reported back as serverTimeMs */
  nowMs?: number;
  /** the server's retention: a snapshot from a day it no longer keeps is refused */
  retention?: Partial<Retention>;
}

/**
 * A snapshot from a day whose samples retention has already dropped (or drops at its next run).
 * Storing it would create partitions only to drop them again, and an agent's token could make
 * thousands that way: it is refused instead, saying from when on data is kept.
 */
export class SnapshotExpired extends Error {
  readonly oldestKeptMs: number;
  constructor(takenAtMs: number, oldestKeptMs: number, samplesDays: number) {
    super(
      `takenAtMs ${new Date(takenAtMs).toISOString()} is older than this server keeps samples ` +
        `(${samplesDays} days: from ${new Date(oldestKeptMs).toISOString()} on)`,
    );
    this.name = 'SnapshotExpired';
    this.oldestKeptMs = oldestKeptMs;
  }
}

/** The push answer plus what storage learned on the way. */
export interface IngestResult extends PushResult {
  /** mapping contents written; a stable process's repeated full map writes none */
  mappingsStored: number;
}

class DuplicateSnapshot extends Error {}

/** Mappings encoded between two turns of the event loop. */
const ENCODE_SLICE = 8192;

/** Postgres allows 65535 bind parameters per statement. */
const ROWS_PER_INSERT = 4000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function toStored(p: Snapshot['processes'][number]): StoredSample {
  const s: StoredSample = {
    pid: p.pid,
    startTicks: p.startTicks,
    threads: p.threads,
    status: p.status,
  };
  if (p.rollup) s.rollup = p.rollup;
  if (p.regions) s.regions = p.regions;
  if (p.error) s.error = p.error;
  return s;
}

/**
 * The incarnation's start time, or null when the agent sent no boot time or the figures put the
 * start after the collection could have read the process (a broken clock is not a start time).
 */
export function incarnationStartMs(snapshot: Snapshot, startTicks: number): number | null {
  const ms = processStartMs(snapshot.host, startTicks);
  return ms !== null && ms <= snapshot.takenAtMs + LIMITS.maxCostMs ? ms : null;
}

/** What an incarnation row keeps of a process record, beside its host, boot and times seen. */
type IncarnationFields = Omit<IncarnationInfo, 'hostId' | 'bootId' | 'firstSeenMs' | 'lastSeenMs'>;

function incarnationFields(snapshot: Snapshot, p: ProcessRecord): IncarnationFields {
  return {
    pid: p.pid,
    startTicks: p.startTicks,
    ppid: p.ppid,
    uid: p.uid,
    comm: p.comm,
    cmdline: p.cmdline,
    exe: p.exe ?? null,
    cgroup: p.cgroup ?? null,
    startedAtMs: incarnationStartMs(snapshot, p.startTicks),
    memoryLimitKb: p.memoryLimitKb ?? null,
  };
}

/**
 * What of a process's metadata can change while it runs and matters at once: its name, its
 * memory limit, and its command line (rewritten in place by setproctitle, as nginx, postgres and
 * sshd do). The command line, up to 4096 characters, is kept as a 16-byte digest: a keyframe holds
 * one mark per process of its host.
 */
function identityMark(p: ProcessRecord): string {
  return `${p.comm}\u0000${p.memoryLimitKb ?? ''}\u0000${hash('md5', p.cmdline, 'base64')}`;
}

/**
 * The processes of a snapshot whose incarnation metadata a block based on `base` must write: the
 * ones the keyframe does not know, and the ones whose name, limit or command line changed since.
 */
function changedSince(base: Keyframe, processes: readonly ProcessRecord[]): ProcessRecord[] {
  return processes.filter((p) => {
    if (base.byPid.get(p.pid)?.startTicks !== p.startTicks) return true;
    const mark = base.identities?.get(p.pid);
    return mark !== undefined && mark !== identityMark(p);
  });
}

function isMissingPartition(e: unknown): boolean {
  // 23514 check_violation: "no partition of relation … found for row"
  const err = e as { code?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  const message = String((e as Error)?.message ?? '') + String(err.cause ?? '');
  return code === '23514' && /no partition/.test(message);
}

/**
 * Stores one validated snapshot (validate with `parseSnapshot` first) in one transaction and
 * resolves only after the commit. Idempotent on (host, snapshotId, takenAtMs): a re-send stores
 * nothing and answers `duplicate: true`. Parts of a split snapshot (same takenAtMs, other
 * snapshotIds) are stored side by side and read back as one point in time.
 */
export async function ingestSnapshot(
  db: Db,
  snapshot: Snapshot,
  opts: IngestOptions = {},
): Promise<IngestResult> {
  const oldestKeptMs = oldestKeptDayMs(opts.nowMs ?? Date.now(), opts.retention);
  if (snapshot.takenAtMs < oldestKeptMs) {
    const { samplesDays } = effectiveRetention(opts.retention);
    throw new SnapshotExpired(snapshot.takenAtMs, oldestKeptMs, samplesDays);
  }
  await ensurePartitionsFor(db, snapshot.takenAtMs);
  try {
    return await ingestOnce(db, snapshot, opts);
  } catch (e) {
    if (!isMissingPartition(e)) throw e;
    // another replica's retention dropped a partition this one remembered
    forgetEnsuredPartitions(db);
    forgetBlockCache(db);
    await ensurePartitionsFor(db, snapshot.takenAtMs);
    return ingestOnce(db, snapshot, opts);
  }
}

async function ingestOnce(db: Db, snapshot: Snapshot, opts: IngestOptions): Promise<IngestResult> {
  const nowMs = opts.nowMs ?? Date.now();
  const t = snapshot.takenAtMs;
  const dayMs = t - (t % DAY_MS);
  const samples = snapshot.processes.map(toStored);
  const mappingCount = snapshot.processes.reduce((n, p) => n + (p.mappings?.length ?? 0), 0);
  const cache = blockCache(db);
  const fast = await ingestFast(db, snapshot, samples, dayMs);
  if (fast !== undefined) {
    return {
      snapshotId: snapshot.snapshotId,
      accepted: true,
      duplicate: !fast,
      processCount: fast ? samples.length : 0,
      mappingCount: 0,
      mappingsStored: 0,
      serverTimeMs: nowMs,
    };
  }
  let mappingsStored = 0;
  let newKeyframe: Keyframe | undefined;
  let storedHostId: number | undefined;
  try {
    await db.transaction(async (txRaw) => {
      const tx = txRaw as unknown as Db;
      const h = snapshot.host;
      // The host row lock also orders concurrent pushes of one host.
      const [hostRow] = await tx
        .insert(hosts)
        .values({
          name: h.name,
          labels: h.labels ?? {},
          bootId: h.bootId,
          kernel: h.kernel,
          memTotalKb: h.memTotalKb,
          pageSizeKb: h.pageSizeKb,
          clockTicksPerSec: h.clockTicksPerSec,
          agentVersion: snapshot.agent.version,
          firstSeenMs: t,
          lastSeenMs: t,
          processCount: samples.length,
        })
        .onConflictDoUpdate({
          target: hosts.name,
          set: {
            labels: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.labels else hosts.labels end`,
            bootId: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.boot_id else hosts.boot_id end`,
            kernel: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.kernel else hosts.kernel end`,
            memTotalKb: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.mem_total_kb else hosts.mem_total_kb end`,
            pageSizeKb: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.page_size_kb else hosts.page_size_kb end`,
            clockTicksPerSec: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.clock_ticks_per_sec else hosts.clock_ticks_per_sec end`,
            agentVersion: sql`case when excluded.last_seen_ms >= hosts.last_seen_ms then excluded.agent_version else hosts.agent_version end`,
            processCount: sql`case when excluded.last_seen_ms > hosts.last_seen_ms then excluded.process_count when excluded.last_seen_ms = hosts.last_seen_ms then hosts.process_count + excluded.process_count else hosts.process_count end`,
            firstSeenMs: sql`least(hosts.first_seen_ms, excluded.first_seen_ms)`,
            lastSeenMs: sql`greatest(hosts.last_seen_ms, excluded.last_seen_ms)`,
          },
        })
        .returning({ id: hosts.id });
      if (!hostRow) throw new Error('host upsert returned nothing');
      const hostId = hostRow.id;
      storedHostId = hostId;

      const base = await findKeyframe(tx, cache, hostId, h.bootId, t, dayMs);
      const data = encodeSampleBlock(samples, base?.byPid);
      const inserted = await tx
        .insert(sampleBlocks)
        .values({
          hostId,
          takenAtMs: t,
          snapshotId: snapshot.snapshotId,
          bootId: h.bootId,
          baseTakenAtMs: base?.takenAtMs ?? null,
          baseSnapshotId: base?.snapshotId ?? null,
          processCount: samples.length,
          data,
        })
        .onConflictDoNothing()
        .returning({ t: sampleBlocks.takenAtMs });
      if (inserted.length === 0) throw new DuplicateSnapshot();
      if (!base) {
        newKeyframe = {
          hostId,
          takenAtMs: t,
          snapshotId: snapshot.snapshotId,
          bootId: h.bootId,
          byPid: indexByPid(samples),
          identities: new Map(snapshot.processes.map((p) => [p.pid, identityMark(p)])),
        };
      }

      // Incarnations: every process at a keyframe (refreshing last seen), else only the ones
      // the keyframe does not know or that changed name or limit since it.
      const fresh = base ? changedSince(base, snapshot.processes) : snapshot.processes;
      const incarnationRows = fresh.map((p) => ({
        hostId,
        bootId: h.bootId,
        ...incarnationFields(snapshot, p),
        firstSeenMs: t,
        lastSeenMs: t,
      }));
      for (const rows of chunks(incarnationRows, ROWS_PER_INSERT)) {
        await tx
          .insert(incarnations)
          .values(rows)
          .onConflictDoUpdate({
            target: [
              incarnations.hostId,
              incarnations.bootId,
              incarnations.pid,
              incarnations.startTicks,
            ],
            set: {
              firstSeenMs: sql`least(incarnations.first_seen_ms, excluded.first_seen_ms)`,
              lastSeenMs: sql`greatest(incarnations.last_seen_ms, excluded.last_seen_ms)`,
              comm: sql`case when excluded.last_seen_ms >= incarnations.last_seen_ms then excluded.comm else incarnations.comm end`,
              cmdline: sql`case when excluded.last_seen_ms >= incarnations.last_seen_ms then excluded.cmdline else incarnations.cmdline end`,
              // An exec changes the binary; a move, the cgroup. One that could not be read this
              // time (an exited process, no privilege) does not erase what was known.
              exe: sql`case when excluded.last_seen_ms >= incarnations.last_seen_ms then coalesce(excluded.exe, incarnations.exe) else incarnations.exe end`,
              cgroup: sql`case when excluded.last_seen_ms >= incarnations.last_seen_ms then coalesce(excluded.cgroup, incarnations.cgroup) else incarnations.cgroup end`,
              // The first known start stays: the same process seen after a clock step is no
              // younger. Known at all once an upgraded agent sees a process an older one found.
              startedAtMs: sql`coalesce(incarnations.started_at_ms, excluded.started_at_ms)`,
              // A limit can be changed (or lifted) at run time: the newest snapshot's word holds.
              memoryLimitKb: sql`case when excluded.last_seen_ms >= incarnations.last_seen_ms then excluded.memory_limit_kb else incarnations.memory_limit_kb end`,
            },
          });
      }

      mappingsStored = await storeFullMaps(tx, hostId, dayMs, snapshot);
    });
  } catch (e) {
    if (e instanceof DuplicateSnapshot) {
      return {
        snapshotId: snapshot.snapshotId,
        accepted: true,
        duplicate: true,
        processCount: 0,
        mappingCount: 0,
        mappingsStored: 0,
        serverTimeMs: nowMs,
      };
    }
    throw e;
  }
  if (storedHostId !== undefined) cache.hostIds.set(snapshot.host.name, storedHostId);
  if (newKeyframe) {
    rememberKeyframe(cache, newKeyframe);
    noteLatestKeyframe(cache, newKeyframe);
  }
  return {
    snapshotId: snapshot.snapshotId,
    accepted: true,
    duplicate: false,
    processCount: samples.length,
    mappingCount,
    mappingsStored,
    serverTimeMs: nowMs,
  };
}

/**
 * The common case in one autocommitted statement: a known host, a remembered keyframe that
 * knows every process, no full maps. The block insert and the host update happen together or
 * not at all; a duplicate inserts no block and so updates nothing. Returns undefined when the
 * snapshot needs the general path, else whether it was stored (false = duplicate).
 */
async function ingestFast(
  db: Db,
  snapshot: Snapshot,
  samples: StoredSample[],
  dayMs: number,
): Promise<boolean | undefined> {
  const cache = blockCache(db);
  const h = snapshot.host;
  const hostId = cache.hostIds.get(h.name);
  if (hostId === undefined) return undefined;
  const t = snapshot.takenAtMs;
  const base = keyframeHint(cache, hostId, h.bootId, t, dayMs);
  if (!base) return undefined;
  if (snapshot.processes.some((p) => p.mappings)) return undefined;
  const changed = changedSince(base, snapshot.processes);
  if (changed.length > FAST_NEW_PROCESSES_MAX) return undefined;
  const fresh = changed.map((p) => incarnationFields(snapshot, p));
  const data = Buffer.from(encodeSampleBlock(samples, base.byPid));
  const r = await enqueueFast(db, {
    hostId,
    takenAtMs: t,
    snapshotId: snapshot.snapshotId,
    bootId: h.bootId,
    baseTakenAtMs: base.takenAtMs,
    baseSnapshotId: base.snapshotId,
    processCount: samples.length,
    data,
    labels: JSON.stringify(h.labels ?? {}),
    kernel: h.kernel,
    memTotalKb: h.memTotalKb,
    agentVersion: snapshot.agent.version,
    fresh,
  });
  if (!r.baseOk) {
    cache.latest.delete(hostId);
    return undefined;
  }
  return r.stored;
}

/** Processes new since the keyframe that the one-statement path still takes along. */
const FAST_NEW_PROCESSES_MAX = 200;

interface FastItem {
  hostId: number;
  takenAtMs: number;
  snapshotId: string;
  bootId: string;
  baseTakenAtMs: number;
  baseSnapshotId: string;
  processCount: number;
  data: Buffer;
  labels: string;
  kernel: string;
  memTotalKb: number;
  agentVersion: string;
  /** incarnations to record along with the block (processes the keyframe does not know) */
  fresh: IncarnationFields[];
}

interface FastOutcome {
  baseOk: boolean;
  stored: boolean;
}

interface Pending {
  item: FastItem;
  resolve(o: FastOutcome): void;
  reject(e: unknown): void;
}

interface Batcher {
  pending: Pending[];
  running: boolean;
}

const batchers = new WeakMap<Db, Batcher>();
/** Snapshots per statement, and bind parameters per statement (Postgres allows 65,535). */
const FAST_BATCH_MAX = 500;
const FAST_BATCH_PARAMS = 50_000;
const paramsOf = (it: FastItem) => 13 + 12 * it.fresh.length;

/**
 * Pushes that arrive while a statement is in flight are stored together by the next one: one
 * commit for many snapshots, with no added wait when the server is idle. A batch holds at most
 * one snapshot per host, so every host row is updated once per statement.
 */
function enqueueFast(db: Db, item: FastItem): Promise<FastOutcome> {
  let b = batchers.get(db);
  if (!b) {
    b = { pending: [], running: false };
    batchers.set(db, b);
  }
  const batcher = b;
  return new Promise<FastOutcome>((resolve, reject) => {
    batcher.pending.push({ item, resolve, reject });
    if (!batcher.running) void drain(db, batcher);
  });
}

async function drain(db: Db, b: Batcher): Promise<void> {
  b.running = true;
  try {
    while (b.pending.length > 0) {
      const batch: Pending[] = [];
      const rest: Pending[] = [];
      const hostsInBatch = new Set<number>();
      let params = 0;
      for (const p of b.pending) {
        const full =
          batch.length >= FAST_BATCH_MAX ||
          (batch.length > 0 && params + paramsOf(p.item) > FAST_BATCH_PARAMS);
        if (full || hostsInBatch.has(p.item.hostId)) rest.push(p);
        else {
          batch.push(p);
          params += paramsOf(p.item);
          hostsInBatch.add(p.item.hostId);
        }
      }
      b.pending = rest;
      try {
        const outcomes = await storeFastBatch(
          db,
          batch.map((p) => p.item),
        );
        batch.forEach((p, i) => {
          p.resolve(outcomes[i] as FastOutcome);
        });
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
  } finally {
    b.running = false;
  }
}

/**
 * One autocommitted statement: for each snapshot whose remembered keyframe still exists (retention
 * elsewhere may have dropped its day; the probe is a primary-key lookup in the new block's own
 * partition), insert its block; for each block actually inserted (not a duplicate) update its host.
 */
async function storeFastBatch(db: Db, items: FastItem[]): Promise<FastOutcome[]> {
  const rows = sql.join(
    items.map(
      (it, i) =>
        sql`(${i}::int, ${it.hostId}::int, ${it.takenAtMs}::bigint, ${it.snapshotId}::uuid, ${it.bootId}::uuid,
             ${it.baseTakenAtMs}::bigint, ${it.baseSnapshotId}::uuid, ${it.processCount}::int, ${it.data}::bytea,
             ${it.labels}::jsonb, ${it.kernel}::text, ${it.memTotalKb}::bigint, ${it.agentVersion}::text)`,
    ),
    sql`, `,
  );
  // New incarnations are written only for blocks this statement stored (joined to x).
  const fresh = items.flatMap((it, i) => it.fresh.map((f) => ({ i, f })));
  const incarnationCte =
    fresh.length === 0
      ? sql``
      : sql`, inc_input (idx, pid, start_ticks, ppid, uid, comm, cmdline, exe, cgroup, started_at_ms,
                        memory_limit_kb) as (values ${sql.join(
                          fresh.map(
                            ({ i, f }) =>
                              sql`(${i}::int, ${f.pid}::int, ${f.startTicks}::bigint, ${f.ppid}::int, ${f.uid}::bigint,
                   ${f.comm}::text, ${f.cmdline}::text, ${f.exe}::text, ${f.cgroup}::text, ${f.startedAtMs}::bigint,
                   ${f.memoryLimitKb}::bigint)`,
                          ),
                          sql`, `,
                        )}
        ), inc as (
          insert into incarnations
            (host_id, boot_id, pid, start_ticks, ppid, uid, comm, cmdline, exe, cgroup, first_seen_ms, last_seen_ms,
             started_at_ms, memory_limit_kb)
          select x.host_id, x.boot_id, n.pid, n.start_ticks, n.ppid, n.uid, n.comm, n.cmdline, n.exe, n.cgroup,
                 x.taken_at_ms, x.taken_at_ms, n.started_at_ms, n.memory_limit_kb
          from inc_input n join x on x.idx = n.idx
          on conflict (host_id, boot_id, pid, start_ticks) do update set
            first_seen_ms = least(incarnations.first_seen_ms, excluded.first_seen_ms),
            last_seen_ms = greatest(incarnations.last_seen_ms, excluded.last_seen_ms),
            started_at_ms = coalesce(incarnations.started_at_ms, excluded.started_at_ms),
            comm = case when excluded.last_seen_ms >= incarnations.last_seen_ms
                        then excluded.comm else incarnations.comm end,
            cmdline = case when excluded.last_seen_ms >= incarnations.last_seen_ms
                           then excluded.cmdline else incarnations.cmdline end,
            exe = case when excluded.last_seen_ms >= incarnations.last_seen_ms
                       then coalesce(excluded.exe, incarnations.exe) else incarnations.exe end,
            cgroup = case when excluded.last_seen_ms >= incarnations.last_seen_ms
                          then coalesce(excluded.cgroup, incarnations.cgroup) else incarnations.cgroup end,
            memory_limit_kb = case when excluded.last_seen_ms >= incarnations.last_seen_ms
                                   then excluded.memory_limit_kb else incarnations.memory_limit_kb end
        )`;
  const result = await queryRows<{ idx: number; base_ok: boolean; stored: boolean }>(
    db,
    sql`with input (idx, host_id, taken_at_ms, snapshot_id, boot_id, base_t, base_s, pc, data,
                    labels, kernel, mem, agent) as (values ${rows}
        ), ok as (
          select i.* from input i
          where exists (select 1 from sample_blocks s
                        where s.host_id = i.host_id and s.taken_at_ms = i.base_t and s.snapshot_id = i.base_s)
        ), b as (
          insert into sample_blocks
            (host_id, taken_at_ms, snapshot_id, boot_id, base_taken_at_ms, base_snapshot_id, process_count, data)
          select host_id, taken_at_ms, snapshot_id, boot_id, base_t, base_s, pc, data from ok
          on conflict do nothing
          returning host_id, snapshot_id
        ), x as (
          select ok.* from ok join b on b.host_id = ok.host_id and b.snapshot_id = ok.snapshot_id
        ), u as (
          update hosts set
            labels = case when x.taken_at_ms >= hosts.last_seen_ms then x.labels else hosts.labels end,
            kernel = case when x.taken_at_ms >= hosts.last_seen_ms then x.kernel else hosts.kernel end,
            mem_total_kb = case when x.taken_at_ms >= hosts.last_seen_ms then x.mem else hosts.mem_total_kb end,
            agent_version = case when x.taken_at_ms >= hosts.last_seen_ms then x.agent else hosts.agent_version end,
            process_count = case when x.taken_at_ms > hosts.last_seen_ms then x.pc
                                 when x.taken_at_ms = hosts.last_seen_ms then hosts.process_count + x.pc
                                 else hosts.process_count end,
            first_seen_ms = least(hosts.first_seen_ms, x.taken_at_ms),
            last_seen_ms = greatest(hosts.last_seen_ms, x.taken_at_ms)
          from x
          where hosts.id = x.host_id
          returning hosts.id
        )
${incarnationCte}
        select i.idx,
               exists (select 1 from ok where ok.idx = i.idx) as base_ok,
               exists (select 1 from x where x.idx = i.idx) as stored
        from input i`,
  );
  const out: FastOutcome[] = items.map(() => ({ baseOk: false, stored: false }));
  for (const r of result)
    out[Number(r.idx)] = { baseOk: Boolean(r.base_ok), stored: Boolean(r.stored) };
  return out;
}

async function storeFullMaps(
  tx: Db,
  hostId: number,
  dayMs: number,
  snapshot: Snapshot,
): Promise<number> {
  const entries = new Map<string, { hash: Uint8Array; data: Uint8Array }>();
  const maps: (typeof fullMaps.$inferInsert)[] = [];
  let encoded = 0;
  for (const p of snapshot.processes) {
    if (!p.mappings) continue;
    const hashes = Buffer.alloc(p.mappings.length * 16);
    for (let i = 0; i < p.mappings.length; i++) {
      const data = encodeMapping(p.mappings[i] as Mapping);
      const hash = mappingHash(data);
      hashes.set(hash, i * 16);
      const key = Buffer.from(hash).toString('hex');
      if (!entries.has(key)) entries.set(key, { hash, data });
      // A host's full map can hold 100,000 mappings and more (about 4 µs each): let other
      // requests in between slices of ~30 ms instead of holding the event loop for all of it.
      if (++encoded % ENCODE_SLICE === 0) await new Promise((r) => setImmediate(r));
    }
    maps.push({
      hostId,
      pid: p.pid,
      startTicks: p.startTicks,
      takenAtMs: snapshot.takenAtMs,
      bootId: snapshot.host.bootId,
      snapshotId: snapshot.snapshotId,
      mappingCount: p.mappings.length,
      entryHashes: hashes,
    });
  }
  if (maps.length === 0) return 0;
  // Only contents this host has not stored today are sent: ask first, then insert the rest.
  const all = [...entries.values()];
  const missing: typeof all = [];
  // All addresses travel as one bytea parameter, cut into 16-byte pieces by the server: a
  // thousand-mapping map costs one parameter instead of a thousand.
  const packed = Buffer.concat(all.map((e) => e.hash));
  const known = await queryRows<{ hash: Uint8Array }>(
    tx,
    sql`select hash from map_entries
        where host_id = ${hostId} and day_ms = ${dayMs}
          and hash in (select substring(${packed}::bytea from i * 16 + 1 for 16)
                       from generate_series(0, ${all.length - 1}) as i)`,
  );
  const knownSet = new Set(known.map((k) => Buffer.from(k.hash).toString('hex')));
  for (const e of all) if (!knownSet.has(Buffer.from(e.hash).toString('hex'))) missing.push(e);
  for (const part of chunks(missing, ROWS_PER_INSERT)) {
    await tx
      .insert(mapEntries)
      .values(part.map((e) => ({ hostId, dayMs, hash: e.hash, data: e.data })))
      .onConflictDoNothing();
  }
  for (const part of chunks(maps, ROWS_PER_INSERT)) {
    await tx.insert(fullMaps).values(part).onConflictDoNothing();
  }
  return missing.length;
}
