import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/**
 * Fleet leak reports, and the queue that makes them: a scheduled report's row is inserted by the
 * replica that claims its slot (the unique (schedule, slot) lets exactly one insert win), filled
 * in when the report is built, and then carries its webhook delivery's state. Rows of manual
 * reports (`fleetpmap report run`) have no slot.
 */
export const leakReports = pgTable(
  'leak_reports',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    /** the schedule's name, or `manual` */
    schedule: text('schedule').notNull(),
    /** the scheduled time this report is for; null for a manual report */
    slotMs: bigint('slot_ms', { mode: 'number' }),
    /**
     * which hosts it covers (analysis' `scopeKey`): empty for the whole fleet; a report is
     * compared only with an earlier one of the same schedule and scope
     */
    scope: text('scope').notNull().default(''),
    state: text('state').$type<'running' | 'done' | 'failed'>().notNull(),
    /** which server process runs (or last ran) it: `hostname:pid` */
    claimedBy: text('claimed_by').notNull(),
    claimedAtMs: bigint('claimed_at_ms', { mode: 'number' }).notNull(),
    /** builds tried so far; a build that crashed or failed is retried up to a limit */
    attempts: integer('attempts').notNull().default(1),
    windowMs: bigint('window_ms', { mode: 'number' }).notNull(),
    metric: text('metric').notNull(),
    generatedAtMs: bigint('generated_at_ms', { mode: 'number' }),
    /** the report (analysis' `LeakReport`) once built */
    body: jsonb('body'),
    /** copied from the body, so a listing does not read whole reports */
    hosts: integer('hosts'),
    processes: integer('processes'),
    leakingHosts: integer('leaking_hosts'),
    leakingProcesses: integer('leaking_processes'),
    newLeaks: integer('new_leaks'),
    error: text('error'),
    delivery: text('delivery')
      .$type<'none' | 'pending' | 'delivered' | 'failed'>()
      .notNull()
      .default('none'),
    deliveryAttempts: integer('delivery_attempts').notNull().default(0),
    /** when a pending delivery may next be tried (also the lease of a delivery in flight) */
    deliveryNextAtMs: bigint('delivery_next_at_ms', { mode: 'number' }),
    deliveredAtMs: bigint('delivered_at_ms', { mode: 'number' }),
    deliveryError: text('delivery_error'),
  },
  (t) => [
    uniqueIndex('leak_reports_slot').on(t.schedule, t.slotMs),
    index('leak_reports_pending_delivery')
      .on(t.deliveryNextAtMs)
      .where(sql`${t.delivery} = 'pending'`),
    check('leak_reports_state', sql`${t.state} in ('running', 'done', 'failed')`),
    check(
      'leak_reports_delivery',
      sql`${t.delivery} in ('none', 'pending', 'delivered', 'failed')`,
    ),
    check('leak_reports_done_has_body', sql`(${t.state} = 'done') = (${t.body} is not null)`),
  ],
);
