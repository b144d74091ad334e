import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * The fleet's leak verdicts over the standard windows, computed by the server after the rollup
 * so that `fleetpmap top` reads a ranked table instead of scoring every process on every call.
 * One row per (metric, window, service chain), named by its newest incarnation. Rewritten whole
 * for a (metric, window) at each refresh, in one transaction: readers see one run or the next.
 * A cache of the aggregates: losing it costs one refresh, nothing else.
 */
export const leakVerdicts = pgTable(
  'leak_verdicts',
  {
    metric: text('metric').notNull(),
    windowMs: bigint('window_ms', { mode: 'number' }).notNull(),
    hostId: integer('host_id').notNull(),
    /** the host's name when scored, so a ranked read needs no join */
    host: text('host').notNull(),
    bootId: uuid('boot_id').notNull(),
    pid: integer('pid').notNull(),
    startTicks: bigint('start_ticks', { mode: 'number' }).notNull(),
    comm: text('comm').notNull(),
    cmdline: text('cmdline').notNull(),
    exe: text('exe'),
    cgroup: text('cgroup'),
    firstSeenMs: bigint('first_seen_ms', { mode: 'number' }).notNull(),
    lastSeenMs: bigint('last_seen_ms', { mode: 'number' }).notNull(),
    /** the newest incarnation's start (`incarnations.started_at_ms`); null when unknown */
    startedAtMs: bigint('started_at_ms', { mode: 'number' }),
    currentKb: doublePrecision('current_kb').notNull(),
    growthKb: doublePrecision('growth_kb').notNull(),
    slopeKbPerHour: doublePrecision('slope_kb_per_hour').notNull(),
    pctPerHour: doublePrecision('pct_per_hour').notNull(),
    confidence: doublePrecision('confidence').notNull(),
    leak: boolean('leak').notNull(),
    timeToLimitHours: doublePrecision('time_to_limit_hours'),
    /**
     * what `time_to_limit_hours` is measured against: MemTotal, or the process's cgroup memory
     * limit when that is lower (KiB); null when neither was known
     */
    limitKb: bigint('limit_kb', { mode: 'number' }),
    reason: text('reason').notNull(),
    /** for a leak judged on its growth since an onset: when that growth began */
    growingSinceMs: bigint('growing_since_ms', { mode: 'number' }),
    incarnations: integer('incarnations').notNull(),
  },
  (t) => [
    primaryKey({
      columns: [t.metric, t.windowMs, t.hostId, t.bootId, t.pid, t.startTicks],
    }),
    // `top` is "the leaking first, fastest first, the first N": an ordered index scan.
    index('leak_verdicts_rank').on(t.metric, t.windowMs, t.leak.desc(), t.slopeKbPerHour.desc()),
  ],
);

/** One row per (metric, window): which run the verdicts in `leak_verdicts` come from. */
export const verdictRuns = pgTable(
  'verdict_runs',
  {
    metric: text('metric').notNull(),
    windowMs: bigint('window_ms', { mode: 'number' }).notNull(),
    /** the window scored was [toMs − windowMs, toMs) */
    toMs: bigint('to_ms', { mode: 'number' }).notNull(),
    /** the rollup watermark the aggregates were read at */
    watermarkMs: bigint('watermark_ms', { mode: 'number' }).notNull(),
    computedAtMs: bigint('computed_at_ms', { mode: 'number' }).notNull(),
    rows: integer('rows').notNull(),
    tookMs: integer('took_ms').notNull(),
  },
  (t) => [primaryKey({ columns: [t.metric, t.windowMs] })],
);
