import { and, eq, gte, inArray, lt, sql } from 'drizzle-orm';
import { KEYFRAME_INTERVAL_MS, readBlocks } from './blocks.ts';
import { type Db, queryRows } from './client.ts';
import {
  addPoint,
  decodeAggregates,
  encodeAggregates,
  METRICS,
  type Metric,
  type MetricAggregate,
  mergeAggregate,
  metricValues,
  type ProcessAggregate,
} from './codec/aggregate-block.ts';
import { type IncarnationInfo, incarnationKey } from './queries.ts';
import { aggregates1h, aggregates5m, hosts, incarnations, rollupState } from './schema/index.ts';

export const BUCKET_5M_MS = 300_000;
export const BUCKET_1H_MS = 3_600_000;
/** Windows up to this long are read at 5-minute resolution by default, longer ones hourly. */
export const FINE_WINDOW_MAX_MS = 6 * BUCKET_1H_MS;
/** Blocks younger than this (by database clock) wait for the next run: their commit may lag. */
export const ROLLUP_SETTLE_MS = 30_000;
const ROLLUP_LOCK = 0x66_6c_72_75; // 'flru'
/**
 * A bucket that ended this long before the previous run's watermark was rewritten by data that
 * came late (a backfill, an import, a spool replayed after an outage), not by the live edge.
 */
const LATE_MARGIN_MS = 5 * 60_000;

export interface RollupResult {
  /** false when another replica was rolling up at the same moment */
  ran: boolean;
  buckets5m: number;
  buckets1h: number;
  watermarkMs: number;
  /** whether this run rewrote buckets behind the live edge (see `rollupMarks`) */
  late: boolean;
}

/**
 * The periodic rollup: every (host, 5-minute bucket) that received blocks since the watermark is
 * recomputed from its raw blocks, then every affected hour from its 5-minute rows. Recomputing
 * whole buckets makes late and replayed snapshots land correctly. One replica at a time.
 * The aggregate partitions a bucket needs were created when its blocks were ingested.
 */
export async function rollupAggregates(
  db: Db,
  opts: { settleMs?: number } = {},
): Promise<RollupResult> {
  const settleMs = opts.settleMs ?? ROLLUP_SETTLE_MS;
  return db.transaction(async (txRaw) => {
    const tx = txRaw as unknown as Db;
    const [lock] = await queryRows<{ ok: boolean }>(
      tx,
      sql`select pg_try_advisory_xact_lock(${ROLLUP_LOCK}) as ok`,
    );
    if (!lock?.ok) return { ran: false, buckets5m: 0, buckets1h: 0, watermarkMs: 0, late: false };
    const [state] = await tx.select().from(rollupState).where(eq(rollupState.name, 'aggregates'));
    const from = state?.watermarkMs ?? 0;
    const [clock] = await queryRows<{ now: string | number }>(
      tx,
      sql`select (extract(epoch from clock_timestamp()) * 1000)::bigint as now`,
    );
    const upto = Number(clock?.now) - settleMs;
    if (upto <= from)
      return { ran: true, buckets5m: 0, buckets1h: 0, watermarkMs: from, late: false };
    const touched = await queryRows<{ host_id: number; bucket: string | number }>(
      tx,
      sql`select distinct host_id, taken_at_ms - taken_at_ms % ${BUCKET_5M_MS} as bucket
          from sample_blocks where ingested_at_ms > ${from} and ingested_at_ms <= ${upto}`,
    );
    const byHost = new Map<number, number[]>();
    for (const t of touched) {
      const list = byHost.get(Number(t.host_id)) ?? [];
      list.push(Number(t.bucket));
      byHost.set(Number(t.host_id), list);
    }
    let hourCount = 0;
    for (const [hostId, buckets] of byHost) {
      hourCount += await rollupHost(tx, hostId, buckets);
    }
    const late = touched.some((t) => Number(t.bucket) + BUCKET_5M_MS < from - LATE_MARGIN_MS);
    for (const name of late ? ['aggregates', 'late-data'] : ['aggregates']) {
      await tx
        .insert(rollupState)
        .values({ name, watermarkMs: upto })
        .onConflictDoUpdate({ target: rollupState.name, set: { watermarkMs: upto } });
    }
    return { ran: true, buckets5m: touched.length, buckets1h: hourCount, watermarkMs: upto, late };
  });
}

export interface RollupMarks {
  /** aggregates are complete for blocks ingested up to this time */
  watermarkMs: number;
  /** the watermark of the newest run that rewrote buckets behind the live edge; 0 when none */
  lateDataMs: number;
}

/**
 * Where the rollup stands. Anything computed from the aggregates at watermark W (stored leak
 * verdicts) is still right for the past as long as `lateDataMs` ≤ W: since then only the live
 * edge moved.
 */
export async function rollupMarks(db: Db): Promise<RollupMarks> {
  const rows = await db.select().from(rollupState);
  const get = (name: string) => rows.find((r) => r.name === name)?.watermarkMs ?? 0;
  return { watermarkMs: get('aggregates'), lateDataMs: get('late-data') };
}

/** Buckets closer than this are read with one query. */
const READ_GAP_MS = BUCKET_1H_MS;

/**
 * Recomputes the given 5-minute buckets of one host from raw blocks, then their hours from the
 * 5-minute rows; a handful of statements per host whatever the number of buckets.
 */
async function rollupHost(tx: Db, hostId: number, buckets: number[]): Promise<number> {
  buckets.sort((x, y) => x - y);
  const runs: number[][] = [];
  for (const b of buckets) {
    const run = runs.at(-1);
    const last = run?.at(-1);
    if (run && last !== undefined && b - last <= READ_GAP_MS) run.push(b);
    else runs.push([b]);
  }
  const rows5m: { bucketMs: number; entries: ProcessAggregate[] }[] = [];
  for (const run of runs) {
    const first = run[0] as number;
    const last = run.at(-1) as number;
    const wanted = new Set(run);
    const perBucket = new Map<number, Map<string, ProcessAggregate>>();
    for (const b of await readBlocks(tx, hostId, first, last + BUCKET_5M_MS - 1)) {
      const bucketMs = b.takenAtMs - (b.takenAtMs % BUCKET_5M_MS);
      if (!wanted.has(bucketMs)) continue;
      let byProcess = perBucket.get(bucketMs);
      if (!byProcess) {
        byProcess = new Map();
        perBucket.set(bucketMs, byProcess);
      }
      const sec = Math.round((b.takenAtMs - bucketMs) / 1000);
      for (const s of b.samples) {
        const k = incarnationKey({ bootId: b.bootId, pid: s.pid, startTicks: s.startTicks });
        let agg = byProcess.get(k);
        if (!agg) {
          agg = { bootId: b.bootId, pid: s.pid, startTicks: s.startTicks, metrics: {} };
          byProcess.set(k, agg);
        }
        const values = metricValues(s);
        for (let i = 0; i < METRICS.length; i++) {
          const v = values[i];
          if (v !== undefined) addPoint(agg.metrics, METRICS[i] as Metric, sec, v);
        }
      }
    }
    for (const bucketMs of run) {
      rows5m.push({ bucketMs, entries: [...(perBucket.get(bucketMs)?.values() ?? [])] });
    }
  }
  await upsertBuckets(tx, aggregates5m, hostId, rows5m);

  const hours = [...new Set(buckets.map((b) => b - (b % BUCKET_1H_MS)))];
  const stored = await tx
    .select()
    .from(aggregates5m)
    .where(
      and(
        eq(aggregates5m.hostId, hostId),
        gte(aggregates5m.bucketMs, Math.min(...hours)),
        lt(aggregates5m.bucketMs, Math.max(...hours) + BUCKET_1H_MS),
        inArray(sql`${aggregates5m.bucketMs} - ${aggregates5m.bucketMs} % ${BUCKET_1H_MS}`, hours),
      ),
    );
  const perHour = new Map<number, Map<string, ProcessAggregate>>();
  for (const r of stored) {
    const hourMs = r.bucketMs - (r.bucketMs % BUCKET_1H_MS);
    const offsetSec = Math.round((r.bucketMs - hourMs) / 1000);
    let byProcess = perHour.get(hourMs);
    if (!byProcess) {
      byProcess = new Map();
      perHour.set(hourMs, byProcess);
    }
    for (const a of decodeAggregates(r.data)) {
      const k = incarnationKey(a);
      let agg = byProcess.get(k);
      if (!agg) {
        agg = { bootId: a.bootId, pid: a.pid, startTicks: a.startTicks, metrics: {} };
        byProcess.set(k, agg);
      }
      for (const m of METRICS) {
        const v = a.metrics[m];
        if (v) mergeAggregate(agg.metrics, m, v, offsetSec);
      }
    }
  }
  await upsertBuckets(
    tx,
    aggregates1h,
    hostId,
    hours.map((hourMs) => ({
      bucketMs: hourMs,
      entries: [...(perHour.get(hourMs)?.values() ?? [])],
    })),
  );
  return hours.length;
}

async function upsertBuckets(
  tx: Db,
  table: typeof aggregates5m | typeof aggregates1h,
  hostId: number,
  rows: { bucketMs: number; entries: ProcessAggregate[] }[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const values = rows.slice(i, i + 1000).map((r) => ({
      hostId,
      bucketMs: r.bucketMs,
      processCount: r.entries.length,
      data: encodeAggregates(r.entries),
    }));
    await tx
      .insert(table)
      .values(values)
      .onConflictDoUpdate({
        target: [table.hostId, table.bucketMs],
        set: { processCount: sql`excluded.process_count`, data: sql`excluded.data` },
      });
  }
}

export interface AggregateBucket {
  startMs: number;
  widthMs: number;
  metrics: Partial<Record<Metric, MetricAggregate>>;
}

/** An incarnation's metadata (as stored, less ppid and uid), its host's, and its buckets. */
export interface ProcessAggregateSeries extends Omit<IncarnationInfo, 'ppid' | 'uid'> {
  host: string;
  labels: Record<string, string>;
  memTotalKb: number;
  /** oldest first; only buckets in which the process was sampled */
  buckets: AggregateBucket[];
}

/**
 * Per-process bucket aggregates over [fromMs, toMs): 5-minute buckets for windows up to six
 * hours, hourly beyond (unless `resolution` says otherwise), so the rows read grow with the
 * number of processes and only slowly with the window. Fresh as of the last rollup run.
 */
export async function processAggregates(
  db: Db,
  opts: {
    fromMs: number;
    toMs: number;
    resolution?: '5m' | '1h';
    hostNames?: readonly string[];
    /** metrics to return (default all); ranking one metric decodes only that one */
    metrics?: readonly Metric[];
    /**
     * Only these incarnations (by host id and `incarnationKey`) are kept: rows still decode
     * whole, but a read for a few processes does not hold every process's buckets in memory.
     */
    only?: ReadonlySet<string>;
  },
): Promise<ProcessAggregateSeries[]> {
  const resolution =
    opts.resolution ?? (opts.toMs - opts.fromMs <= FINE_WINDOW_MAX_MS ? '5m' : '1h');
  const table = resolution === '5m' ? aggregates5m : aggregates1h;
  const widthMs = resolution === '5m' ? BUCKET_5M_MS : BUCKET_1H_MS;
  const hostRows = await db.select().from(hosts);
  const chosen = opts.hostNames
    ? hostRows.filter((h) => opts.hostNames?.includes(h.name))
    : hostRows;
  if (chosen.length === 0) return [];
  const hostIds = chosen.map((h) => h.id);
  const fromBucket = opts.fromMs - (opts.fromMs % widthMs);
  const rows = await db
    .select()
    .from(table)
    .where(
      and(
        inArray(table.hostId, hostIds),
        gte(table.bucketMs, fromBucket),
        lt(table.bucketMs, opts.toMs),
      ),
    )
    .orderBy(table.hostId, table.bucketMs);
  const meta = await db
    .select()
    .from(incarnations)
    .where(
      and(
        inArray(incarnations.hostId, hostIds),
        // last_seen_ms is refreshed at keyframes, so it may lag by a keyframe interval and a bit
        gte(incarnations.lastSeenMs, opts.fromMs - 2 * KEYFRAME_INTERVAL_MS),
        lt(incarnations.firstSeenMs, opts.toMs),
      ),
    );
  const metaByKey = new Map(meta.map((m) => [`${m.hostId}/${incarnationKey(m)}`, m]));
  const hostById = new Map(chosen.map((h) => [h.id, h]));
  const out = new Map<string, ProcessAggregateSeries>();
  for (const r of rows) {
    const h = hostById.get(r.hostId);
    if (!h) continue;
    for (const a of decodeAggregates(r.data, opts.metrics)) {
      const k = `${r.hostId}/${incarnationKey(a)}`;
      if (opts.only && !opts.only.has(k)) continue;
      let s = out.get(k);
      if (!s) {
        const m = metaByKey.get(k);
        s = {
          host: h.name,
          hostId: h.id,
          labels: h.labels,
          memTotalKb: h.memTotalKb,
          bootId: a.bootId,
          pid: a.pid,
          startTicks: a.startTicks,
          comm: m?.comm ?? '',
          cmdline: m?.cmdline ?? '',
          exe: m?.exe ?? null,
          cgroup: m?.cgroup ?? null,
          firstSeenMs: m?.firstSeenMs ?? r.bucketMs,
          lastSeenMs: m?.lastSeenMs ?? r.bucketMs,
          startedAtMs: m?.startedAtMs ?? null,
          memoryLimitKb: m?.memoryLimitKb ?? null,
          buckets: [],
        };
        out.set(k, s);
      }
      s.buckets.push({ startMs: r.bucketMs, widthMs, metrics: a.metrics });
      // The metadata's last sighting is refreshed at keyframes only (up to an hour behind); the
      // newest aggregated sample says when the process was last seen alive (UPTIME, chaining).
      for (const m of Object.values(a.metrics)) {
        if (m) s.lastSeenMs = Math.max(s.lastSeenMs, r.bucketMs + m.lastSec * 1000);
      }
    }
  }
  return [...out.values()];
}
