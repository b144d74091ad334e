import type { Mapping, Regions, Rollup, StatusSample } from '@fleetpmap/protocol';
import { and, asc, eq, gte, inArray, lte, sql } from 'drizzle-orm';
import { readBlocks, readLatestBlocks } from './blocks.ts';
import type { Db } from './client.ts';
import { decodeMapping, MAPPING_HASH_BYTES } from './codec/mapping.ts';
import type { StoredSample } from './codec/sample-block.ts';
import { DAY_MS } from './partitions.ts';
import { fullMaps, hosts, incarnations, mapEntries } from './schema/index.ts';

export interface HostSummary {
  id: number;
  name: string;
  labels: Record<string, string>;
  agentVersion: string;
  kernel: string;
  bootId: string;
  memTotalKb: number;
  firstSeenMs: number;
  /** takenAtMs of the newest stored snapshot */
  lastSeenMs: number;
  /** processes in the newest snapshot */
  processCount: number;
}

export async function listHosts(db: Db): Promise<HostSummary[]> {
  const rows = await db.select().from(hosts).orderBy(asc(hosts.name));
  return rows.map((h) => ({
    id: h.id,
    name: h.name,
    labels: h.labels,
    agentVersion: h.agentVersion,
    kernel: h.kernel,
    bootId: h.bootId,
    memTotalKb: h.memTotalKb,
    firstSeenMs: h.firstSeenMs,
    lastSeenMs: h.lastSeenMs,
    processCount: h.processCount,
  }));
}

export async function findHost(db: Db, name: string): Promise<HostSummary | undefined> {
  return (await listHosts(db)).find((h) => h.name === name);
}

export interface IncarnationInfo {
  hostId: number;
  bootId: string;
  pid: number;
  startTicks: number;
  ppid: number;
  uid: number;
  comm: string;
  cmdline: string;
  exe: string | null;
  cgroup: string | null;
  firstSeenMs: number;
  lastSeenMs: number;
  /** host boot time + start ticks; null when the agent sent no boot time */
  startedAtMs: number | null;
  /** cgroup memory limit, KiB, as of the newest keyframe; null when none was known */
  memoryLimitKb: number | null;
}

/** `bootId/pid/startTicks`: a process incarnation's identity within its host. */
export const incarnationKey = (a: { bootId: string; pid: number; startTicks: number }) =>
  `${a.bootId}/${a.pid}/${a.startTicks}`;

/** Metadata of the given processes of one host, keyed by `bootId/pid/startTicks`. */
export async function incarnationsOf(
  db: Db,
  hostId: number,
  keys: readonly { bootId: string; pid: number; startTicks: number }[],
): Promise<Map<string, IncarnationInfo>> {
  const out = new Map<string, IncarnationInfo>();
  const pids = [...new Set(keys.map((k) => k.pid))];
  for (let i = 0; i < pids.length; i += 4000) {
    const rows = await db
      .select()
      .from(incarnations)
      .where(
        and(eq(incarnations.hostId, hostId), inArray(incarnations.pid, pids.slice(i, i + 4000))),
      );
    for (const r of rows) out.set(incarnationKey(r), r);
  }
  return out;
}

/**
 * Metadata of the incarnations of the given hosts last seen within [fromMs, toMs]: what tells
 * whether their aggregates are worth reading. `lastSeenMs` is refreshed at keyframes, so it lags
 * an incarnation's real end by up to `KEYFRAME_INTERVAL_MS`.
 */
export async function incarnationsLastSeenBetween(
  db: Db,
  hostIds: readonly number[],
  fromMs: number,
  toMs: number,
): Promise<IncarnationInfo[]> {
  if (hostIds.length === 0) return [];
  return db
    .select()
    .from(incarnations)
    .where(
      and(
        inArray(incarnations.hostId, [...hostIds]),
        gte(incarnations.lastSeenMs, fromMs),
        lte(incarnations.lastSeenMs, toMs),
      ),
    );
}

/** An incarnation's stored metadata as of one snapshot of its host. */
export interface ProcessState extends Omit<IncarnationInfo, 'lastSeenMs'> {
  host: string;
  takenAtMs: number;
  threads: number;
  status: StatusSample;
  /** newest smaps_rollup read within the look-back, with its time */
  rollup?: Rollup;
  rollupAtMs?: number;
  /** newest full-map region totals within the look-back, with its time */
  regions?: Regions;
  regionsAtMs?: number;
  error?: { code: string; message: string };
}

/**
 * The newest state of every process of the given hosts (all hosts when omitted): the counters
 * of each host's newest snapshot, plus the newest rollup and region totals read within
 * `lookbackMs` before it (those tiers are read less often).
 */
export async function latestProcesses(
  db: Db,
  opts: { hostNames?: readonly string[]; atMs?: number; lookbackMs?: number } = {},
): Promise<ProcessState[]> {
  const lookbackMs = opts.lookbackMs ?? 20 * 60_000;
  const all = await listHosts(db);
  const chosen = opts.hostNames ? all.filter((h) => opts.hostNames?.includes(h.name)) : all;
  const out: ProcessState[] = [];
  for (const h of chosen) {
    const latest = await readLatestBlocks(db, h.id, opts.atMs);
    const first = latest[0];
    if (!first) continue;
    const t = first.takenAtMs;
    const recent = await readBlocks(db, h.id, t - lookbackMs, t);
    const extras = new Map<
      string,
      { rollup?: Rollup; rollupAtMs?: number; regions?: Regions; regionsAtMs?: number }
    >();
    for (const b of recent) {
      for (const s of b.samples) {
        if (!s.rollup && !s.regions) continue;
        const k = incarnationKey({ bootId: b.bootId, pid: s.pid, startTicks: s.startTicks });
        const e = extras.get(k) ?? {};
        if (s.rollup) Object.assign(e, { rollup: s.rollup, rollupAtMs: b.takenAtMs });
        if (s.regions) Object.assign(e, { regions: s.regions, regionsAtMs: b.takenAtMs });
        extras.set(k, e);
      }
    }
    const keys = latest.flatMap((b) =>
      b.samples.map((s) => ({ bootId: b.bootId, pid: s.pid, startTicks: s.startTicks })),
    );
    const meta = await incarnationsOf(db, h.id, keys);
    for (const b of latest) {
      for (const s of b.samples) {
        const k = incarnationKey({ bootId: b.bootId, pid: s.pid, startTicks: s.startTicks });
        const m = meta.get(k);
        const extra = extras.get(k);
        out.push({
          host: h.name,
          hostId: h.id,
          bootId: b.bootId,
          takenAtMs: b.takenAtMs,
          pid: s.pid,
          startTicks: s.startTicks,
          ppid: m?.ppid ?? 0,
          uid: m?.uid ?? 0,
          comm: m?.comm ?? '',
          cmdline: m?.cmdline ?? '',
          exe: m?.exe ?? null,
          cgroup: m?.cgroup ?? null,
          firstSeenMs: m?.firstSeenMs ?? b.takenAtMs,
          startedAtMs: m?.startedAtMs ?? null,
          memoryLimitKb: m?.memoryLimitKb ?? null,
          threads: s.threads,
          status: s.status,
          ...extra,
          ...(s.error ? { error: s.error } : {}),
        });
      }
    }
  }
  return out;
}

export interface SeriesPoint extends Omit<StoredSample, 'pid' | 'startTicks'> {
  takenAtMs: number;
}

export interface ProcessSeries {
  host: string;
  bootId: string;
  pid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  /** cgroup memory limit, KiB, as of the newest keyframe; null when none was known */
  memoryLimitKb: number | null;
  points: SeriesPoint[];
}

/**
 * Every stored sample of a pid on a host within [fromMs, toMs], one series per incarnation
 * (a reused pid or a reboot starts a new one), oldest first.
 */
export async function processSeries(
  db: Db,
  opts: { hostName: string; pid: number; startTicks?: number; fromMs: number; toMs: number },
): Promise<ProcessSeries[]> {
  const h = await findHost(db, opts.hostName);
  if (!h) return [];
  const blocks = await readBlocks(db, h.id, opts.fromMs, opts.toMs);
  const series = new Map<string, ProcessSeries>();
  for (const b of blocks) {
    for (const s of b.samples) {
      if (s.pid !== opts.pid) continue;
      if (opts.startTicks !== undefined && s.startTicks !== opts.startTicks) continue;
      const k = incarnationKey({ bootId: b.bootId, pid: s.pid, startTicks: s.startTicks });
      let cur = series.get(k);
      if (!cur) {
        cur = {
          host: h.name,
          bootId: b.bootId,
          pid: s.pid,
          startTicks: s.startTicks,
          comm: '',
          cmdline: '',
          memoryLimitKb: null,
          points: [],
        };
        series.set(k, cur);
      }
      const { pid: _p, startTicks: _s, ...rest } = s;
      cur.points.push({ takenAtMs: b.takenAtMs, ...rest });
    }
  }
  const out = [...series.values()];
  const meta = await incarnationsOf(db, h.id, out);
  for (const s of out) {
    const m = meta.get(incarnationKey(s));
    s.comm = m?.comm ?? '';
    s.cmdline = m?.cmdline ?? '';
    s.memoryLimitKb = m?.memoryLimitKb ?? null;
  }
  return out;
}

export interface FullMapRef {
  host: string;
  pid: number;
  startTicks: number;
  bootId: string;
  takenAtMs: number;
  mappingCount: number;
}

export interface StoredFullMap extends FullMapRef {
  comm: string;
  cmdline: string;
  mappings: Mapping[];
}

/** The full maps stored for a pid on a host, oldest first (optionally within a window). */
export async function listFullMaps(
  db: Db,
  opts: { hostName: string; pid: number; startTicks?: number; fromMs?: number; toMs?: number },
): Promise<FullMapRef[]> {
  const h = await findHost(db, opts.hostName);
  if (!h) return [];
  const rows = await db
    .select({
      pid: fullMaps.pid,
      startTicks: fullMaps.startTicks,
      bootId: fullMaps.bootId,
      takenAtMs: fullMaps.takenAtMs,
      mappingCount: fullMaps.mappingCount,
    })
    .from(fullMaps)
    .where(
      and(
        eq(fullMaps.hostId, h.id),
        eq(fullMaps.pid, opts.pid),
        opts.startTicks === undefined ? undefined : eq(fullMaps.startTicks, opts.startTicks),
        opts.fromMs === undefined ? undefined : gte(fullMaps.takenAtMs, opts.fromMs),
        opts.toMs === undefined ? undefined : lte(fullMaps.takenAtMs, opts.toMs),
      ),
    )
    .orderBy(asc(fullMaps.takenAtMs));
  return rows.map((r) => ({ host: h.name, ...r }));
}

/**
 * The stored full map of a pid nearest to `atMs` (either side; ties go to the earlier one),
 * with every mapping rebuilt exactly as the agent sent it. Undefined when none is stored.
 */
export async function getFullMap(
  db: Db,
  opts: { hostName: string; pid: number; atMs: number; startTicks?: number },
): Promise<StoredFullMap | undefined> {
  const h = await findHost(db, opts.hostName);
  if (!h) return undefined;
  const where = and(
    eq(fullMaps.hostId, h.id),
    eq(fullMaps.pid, opts.pid),
    opts.startTicks === undefined ? undefined : eq(fullMaps.startTicks, opts.startTicks),
  );
  const [row] = await db
    .select()
    .from(fullMaps)
    .where(where)
    .orderBy(sql`abs(${fullMaps.takenAtMs} - ${opts.atMs})`, asc(fullMaps.takenAtMs))
    .limit(1);
  if (!row) return undefined;
  const hashes: Buffer[] = [];
  const all = Buffer.from(row.entryHashes);
  for (let i = 0; i < row.mappingCount; i++) {
    hashes.push(all.subarray(i * MAPPING_HASH_BYTES, (i + 1) * MAPPING_HASH_BYTES));
  }
  const dayMs = row.takenAtMs - (row.takenAtMs % DAY_MS);
  const contents = new Map<string, Mapping>();
  const unique = [...new Map(hashes.map((x) => [x.toString('hex'), x])).values()];
  for (let i = 0; i < unique.length; i += 4000) {
    const part = unique.slice(i, i + 4000);
    const rows = await db
      .select({ hash: mapEntries.hash, data: mapEntries.data })
      .from(mapEntries)
      .where(
        sql`${mapEntries.hostId} = ${h.id} and ${mapEntries.dayMs} = ${dayMs} and ${mapEntries.hash} in (${sql.join(
          part.map((x) => sql`${x}::bytea`),
          sql`, `,
        )})`,
      );
    for (const r of rows) contents.set(Buffer.from(r.hash).toString('hex'), decodeMapping(r.data));
  }
  const mappings = hashes.map((x) => {
    const m = contents.get(x.toString('hex'));
    if (!m) throw new Error(`mapping content ${x.toString('hex')} is missing`);
    return structuredClone(m);
  });
  const meta = await incarnationsOf(db, h.id, [row]);
  const m = meta.get(incarnationKey(row));
  return {
    host: h.name,
    pid: row.pid,
    startTicks: row.startTicks,
    bootId: row.bootId,
    takenAtMs: row.takenAtMs,
    mappingCount: row.mappingCount,
    comm: m?.comm ?? '',
    cmdline: m?.cmdline ?? '',
    mappings,
  };
}

export interface MappingChange {
  key: string;
  before?: Mapping;
  after?: Mapping;
  /** Rss(after) − Rss(before), KiB; a disappeared mapping counts as negative growth */
  rssDeltaKb: number;
  sizeDeltaKb: number;
}

/** Whether two mappings cover some address in common (hex start/end, as /proc prints them). */
function overlaps(x: Mapping, y: Mapping): boolean {
  return (
    BigInt(`0x${x.start}`) < BigInt(`0x${y.end}`) && BigInt(`0x${y.start}`) < BigInt(`0x${x.end}`)
  );
}

/**
 * Mapping-by-mapping difference of two maps of one process: a mapping is the same when its
 * start address and path are (a growing heap keeps its start), or, among those left unmatched,
 * when its path is the same and its range overlaps: the kernel merges a new anonymous mapping
 * placed just below an existing one into it, so a region that grows downwards keeps its end
 * but not its start, and is one mapping that grew, not one that appeared and one that went.
 * Largest RSS growth first.
 */
export function diffMappings(
  before: readonly Mapping[],
  after: readonly Mapping[],
): MappingChange[] {
  const key = (m: Mapping) => `${m.start} ${m.pathBase64 ?? m.path}`;
  const path = (m: Mapping) => m.pathBase64 ?? m.path;
  const a = new Map(before.map((m) => [key(m), m]));
  const b = new Map(after.map((m) => [key(m), m]));
  const leftBefore = [...a].filter(([k]) => !b.has(k)).map(([, m]) => m);
  const pairedBefore = new Set<Mapping>();
  const out: MappingChange[] = [];
  for (const [k, m] of b) {
    let old = a.get(k);
    if (!old) {
      old = leftBefore.find((o) => !pairedBefore.has(o) && path(o) === path(m) && overlaps(o, m));
      if (old) pairedBefore.add(old);
    }
    const rss = (m.kb.Rss ?? 0) - (old?.kb.Rss ?? 0);
    const size = (m.kb.Size ?? 0) - (old?.kb.Size ?? 0);
    if (
      old &&
      rss === 0 &&
      size === 0 &&
      old.start === m.start &&
      old.end === m.end &&
      old.perms === m.perms
    ) {
      continue;
    }
    out.push({
      key: k,
      ...(old ? { before: old } : {}),
      after: m,
      rssDeltaKb: rss,
      sizeDeltaKb: size,
    });
  }
  for (const m of leftBefore) {
    if (pairedBefore.has(m)) continue;
    out.push({
      key: key(m),
      before: m,
      rssDeltaKb: -(m.kb.Rss ?? 0),
      sizeDeltaKb: -(m.kb.Size ?? 0),
    });
  }
  return out.sort((x, y) => y.rssDeltaKb - x.rssDeltaKb || x.key.localeCompare(y.key));
}
