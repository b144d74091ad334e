import { sql } from 'drizzle-orm';
import { forgetBlockCache } from './blocks.ts';
import { type Db, queryRows } from './client.ts';
import { deleteReportsBefore } from './reports.ts';

export const DAY_MS = 86_400_000;

/** How long each kind of data is kept, in days. Expired data goes by dropping whole partitions. */
export interface Retention {
  /** raw sample blocks (every process sample) */
  samplesDays: number;
  /** full maps and their mapping contents */
  mapsDays: number;
  /** 5-minute aggregates (rank windows of a few hours) */
  aggregates5mDays: number;
  /** hourly aggregates (rank windows of days to months) */
  aggregates1hDays: number;
  /** fleet leak reports (one row each, bodies capped) */
  reportsDays: number;
}

export const DEFAULT_RETENTION: Retention = {
  samplesDays: 14,
  mapsDays: 30,
  aggregates5mDays: 14,
  aggregates1hDays: 400,
  reportsDays: 400,
};

type Period = 'day' | 'month';

interface PartitionedTable {
  table: string;
  period: Period;
  retention: keyof Retention;
}

const PARTITIONED: readonly PartitionedTable[] = [
  { table: 'sample_blocks', period: 'day', retention: 'samplesDays' },
  { table: 'full_maps', period: 'day', retention: 'mapsDays' },
  { table: 'map_entries', period: 'day', retention: 'mapsDays' },
  { table: 'aggregates_5m', period: 'day', retention: 'aggregates5mDays' },
  { table: 'aggregates_1h', period: 'month', retention: 'aggregates1hDays' },
];

function periodStart(ms: number, period: Period): number {
  const d = new Date(ms);
  return period === 'day'
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

function periodEnd(start: number, period: Period): number {
  const d = new Date(start);
  return period === 'day' ? start + DAY_MS : Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

function partitionName(table: string, start: number, period: Period): string {
  const iso = new Date(start).toISOString();
  const suffix =
    period === 'day' ? iso.slice(0, 10).replaceAll('-', '') : iso.slice(0, 7).replace('-', '');
  return `${table}_p${suffix}`;
}

/** Serialises partition DDL across server replicas for the rest of the transaction. */
const PARTITION_LOCK = 0x66_6c_70_6d; // 'flpm'

async function createPartition(tx: Db, t: PartitionedTable, start: number): Promise<void> {
  const end = periodEnd(start, t.period);
  const name = partitionName(t.table, start, t.period);
  // Names and bounds come from this module, never from input.
  await tx.execute(
    sql.raw(
      `CREATE TABLE IF NOT EXISTS "${name}" PARTITION OF "${t.table}" FOR VALUES FROM (${start}) TO (${end})`,
    ),
  );
}

const ensured = new WeakMap<Db, Map<number, Promise<void>>>();

/**
 * Makes sure every partitioned table has a partition for the UTC day of `ms` (and its month).
 * Concurrent callers share one check per day; DDL (which locks the parent table) runs only for
 * partitions that are really missing. Remembered per database object; `forget` after drops.
 */
export async function ensurePartitionsFor(db: Db, ms: number): Promise<void> {
  const day = periodStart(ms, 'day');
  let known = ensured.get(db);
  if (!known) {
    known = new Map();
    ensured.set(db, known);
  }
  let pending = known.get(day);
  if (!pending) {
    pending = createMissing(db, ms);
    known.set(day, pending);
    pending.catch(() => known.delete(day));
  }
  await pending;
}

async function createMissing(db: Db, ms: number): Promise<void> {
  const wanted = PARTITIONED.map((t) => ({ t, start: periodStart(ms, t.period) }));
  const names = wanted.map((w) => partitionName(w.t.table, w.start, w.t.period));
  const present = async (q: Db) =>
    new Set(
      (
        await queryRows<{ relname: string }>(
          q,
          sql`select relname from pg_class where relname in (${sql.join(
            names.map((n) => sql`${n}`),
            sql`, `,
          )})`,
        )
      ).map((r) => r.relname),
    );
  if ((await present(db)).size === names.length) return;
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`);
    const have = await present(tx as Db);
    for (const w of wanted) {
      if (!have.has(partitionName(w.t.table, w.start, w.t.period))) {
        await createPartition(tx as Db, w.t, w.start);
      }
    }
  });
}

export function forgetEnsuredPartitions(db: Db): void {
  ensured.delete(db);
}

export interface MaintenanceResult {
  created: string[];
  dropped: string[];
  /** incarnations not seen within the hourly-aggregate retention, deleted */
  incarnationsDeleted: number;
  /** leak reports older than their retention, deleted */
  reportsDeleted: number;
}

/**
 * Partitions dropped per transaction. Each drop holds about six locks (table, indexes, TOAST)
 * until commit, and Postgres's shared lock table has room for 64 × max_connections of them by
 * default: dropping a backlog in one transaction failed with "out of shared memory" from about
 * 1,300 partitions on, and failed again every hour after. Small batches keep every run bounded.
 */
export const DROP_BATCH = 64;

/** Retention with the floors that keep rollups correct, filled in from the defaults. */
export function effectiveRetention(partial?: Partial<Retention>): Retention {
  const retention = { ...DEFAULT_RETENTION, ...partial };
  // Rollups recompute buckets from raw blocks: keep aggregates at least as long as the blocks.
  retention.aggregates5mDays = Math.max(retention.aggregates5mDays, retention.samplesDays);
  retention.aggregates1hDays = Math.max(retention.aggregates1hDays, retention.aggregates5mDays);
  return retention;
}

/**
 * The start of the oldest UTC day whose samples are still kept at `nowMs`: the next maintenance
 * run drops every day before it, so a snapshot taken earlier would be gone within the hour.
 */
export function oldestKeptDayMs(nowMs: number, retention?: Partial<Retention>): number {
  const cutoff = nowMs - effectiveRetention(retention).samplesDays * DAY_MS;
  // A day's partition goes once its end is at or before the cutoff: the cutoff's own day stays.
  return periodStart(cutoff, 'day');
}

/**
 * The periodic step: creates the partitions for today and the next `daysAhead` days, and drops
 * every partition whose whole range is older than its retention, `DROP_BATCH` per transaction.
 * Several replicas may call it; an advisory lock makes them take turns in each transaction.
 */
export async function maintainPartitions(
  db: Db,
  opts: { nowMs: number; retention?: Partial<Retention>; daysAhead?: number },
): Promise<MaintenanceResult> {
  const retention = effectiveRetention(opts.retention);
  const daysAhead = opts.daysAhead ?? 2;
  const created: string[] = [];
  const expired: string[] = [];
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`);
    const existing = await queryRows<{ parent: string; child: string }>(
      tx as Db,
      sql`select p.relname as parent, c.relname as child
          from pg_inherits i
          join pg_class c on c.oid = i.inhrelid
          join pg_class p on p.oid = i.inhparent
          where p.relname in ('sample_blocks', 'full_maps', 'map_entries', 'aggregates_5m', 'aggregates_1h')`,
    );
    const names = new Set(existing.map((r) => r.child));
    for (const t of PARTITIONED) {
      for (let d = 0; d <= daysAhead; d++) {
        const start = periodStart(opts.nowMs + d * DAY_MS, t.period);
        const name = partitionName(t.table, start, t.period);
        if (names.has(name)) continue;
        await createPartition(tx as Db, t, start);
        names.add(name);
        created.push(name);
      }
      const cutoff = opts.nowMs - retention[t.retention] * DAY_MS;
      for (const r of existing) {
        if (r.parent !== t.table) continue;
        const m = /_p(\d{4})(\d{2})(\d{2})?$/.exec(r.child);
        if (!m) continue;
        const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, m[3] ? Number(m[3]) : 1);
        if (periodEnd(start, t.period) <= cutoff) expired.push(r.child);
      }
    }
  });
  const dropped: string[] = [];
  try {
    for (let i = 0; i < expired.length; i += DROP_BATCH) {
      const batch = expired.slice(i, i + DROP_BATCH);
      await db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(${PARTITION_LOCK})`);
        // Names come from the catalog and matched the pattern above, never from input.
        for (const name of batch) await tx.execute(sql.raw(`DROP TABLE IF EXISTS "${name}"`));
      });
      dropped.push(...batch);
    }
  } finally {
    if (dropped.length > 0) {
      forgetEnsuredPartitions(db);
      forgetBlockCache(db);
    }
  }
  let incarnationsDeleted = 0;
  let reportsDeleted = 0;
  await db.transaction(async (tx) => {
    // Nothing references an incarnation older than every aggregate that could name it.
    const gone = await queryRows<{ n: number }>(
      tx as Db,
      sql`with d as (delete from incarnations
                     where last_seen_ms < ${opts.nowMs - retention.aggregates1hDays * DAY_MS}
                     returning 1)
          select count(*)::int as n from d`,
    );
    incarnationsDeleted = Number(gone[0]?.n ?? 0);
    reportsDeleted = await deleteReportsBefore(
      tx as Db,
      opts.nowMs - retention.reportsDays * DAY_MS,
    );
  });
  return { created, dropped, incarnationsDeleted, reportsDeleted };
}
