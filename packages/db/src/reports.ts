import { and, desc, eq, getTableColumns, lt, lte, sql } from 'drizzle-orm';
import { type Db, queryRows } from './client.ts';
import { leakReports } from './schema/index.ts';

export type StoredReport = typeof leakReports.$inferSelect;

/** A report's row without its body: what a listing shows. */
export type ReportSummary = Omit<StoredReport, 'body'>;

/** The totals a finished report copies out of its body for listings. */
export interface ReportTotals {
  hosts: number;
  processes: number;
  leakingHosts: number;
  leakingProcesses: number;
  newLeaks: number | null;
}

export interface ClaimOptions {
  schedule: string;
  slotMs: number;
  /** the hosts the schedule covers (analysis' `scopeKey`); the whole fleet when omitted */
  scope?: string;
  windowMs: number;
  metric: string;
  claimedBy: string;
  nowMs: number;
  /** a build still `running` after this long is taken to have died with its server */
  staleAfterMs: number;
  /** a failed build is retried after this long */
  retryAfterMs: number;
  /** builds tried per slot, at most */
  maxAttempts: number;
}

/** A new report's row, `running` and claimed by the process that will build it. */
function claimedRow(o: {
  schedule: string;
  slotMs: number | null;
  scope?: string | undefined;
  windowMs: number;
  metric: string;
  claimedBy: string;
  nowMs: number;
}): typeof leakReports.$inferInsert {
  return {
    schedule: o.schedule,
    slotMs: o.slotMs,
    scope: o.scope ?? '',
    state: 'running',
    claimedBy: o.claimedBy,
    claimedAtMs: o.nowMs,
    windowMs: o.windowMs,
    metric: o.metric,
  };
}

/**
 * Claims one scheduled slot for this server process. The first replica to ask inserts the slot's
 * row and builds the report; the others find the row and leave it alone. A row left `running`
 * by a server that died, or `failed`, is taken over once it is old enough, until the attempts
 * are spent (then it stays `failed`). Undefined when there is nothing to do for this slot.
 */
export async function claimReportSlot(
  db: Db,
  o: ClaimOptions,
): Promise<{ id: number; attempts: number } | undefined> {
  const slot = and(eq(leakReports.schedule, o.schedule), eq(leakReports.slotMs, o.slotMs));
  // Looked up first: an insert that conflicts still spends an id of the identity sequence, and
  // every replica asks every half minute until the slot's hour is over.
  const [existing] = await db
    .select({ id: leakReports.id, state: leakReports.state })
    .from(leakReports)
    .where(slot);
  if (existing?.state === 'done') return undefined;
  const [inserted] = existing
    ? []
    : await db
        .insert(leakReports)
        .values(claimedRow(o))
        .onConflictDoNothing({ target: [leakReports.schedule, leakReports.slotMs] })
        .returning({ id: leakReports.id, attempts: leakReports.attempts });
  if (inserted) return inserted;
  const [takenOver] = await db
    .update(leakReports)
    .set({
      state: 'running',
      claimedBy: o.claimedBy,
      claimedAtMs: o.nowMs,
      attempts: sql`${leakReports.attempts} + 1`,
      error: null,
    })
    .where(
      and(
        slot,
        lt(leakReports.attempts, o.maxAttempts),
        sql`((${leakReports.state} = 'running' and ${leakReports.claimedAtMs} <= ${o.nowMs - o.staleAfterMs})
          or (${leakReports.state} = 'failed' and ${leakReports.claimedAtMs} <= ${o.nowMs - o.retryAfterMs}))`,
      ),
    )
    .returning({ id: leakReports.id, attempts: leakReports.attempts });
  if (takenOver) return takenOver;
  // A build that died on its last attempt would otherwise read `running` for ever.
  await db
    .update(leakReports)
    .set({ state: 'failed', error: sql`coalesce(${leakReports.error}, 'its server stopped')` })
    .where(
      and(
        slot,
        eq(leakReports.state, 'running'),
        lte(leakReports.claimedAtMs, o.nowMs - o.staleAfterMs),
      ),
    );
  return undefined;
}

/** The schedule name of the server's own scheduled reports, over the whole fleet. */
export const SERVER_SCHEDULE = 'scheduled';

/** The schedule name of the reports asked for now (`fleetpmap report run`). */
export const MANUAL_SCHEDULE = 'manual';

/** A report asked for now (`fleetpmap report run`): its row, claimed by the asking server. */
export async function insertManualReport(
  db: Db,
  o: { windowMs: number; metric: string; claimedBy: string; nowMs: number; scope?: string },
): Promise<number> {
  const [row] = await db
    .insert(leakReports)
    .values(claimedRow({ ...o, schedule: MANUAL_SCHEDULE, slotMs: null }))
    .returning({ id: leakReports.id });
  if (!row) throw new Error('insert into leak_reports returned no row');
  return row.id;
}

/**
 * Stores a built report. `deliver` queues it for the webhook. Only the claim's holder finishes:
 * a build that lost its claim (taken over as stale) stores nothing, and false says so.
 */
export async function finishReport(
  db: Db,
  id: number,
  o: {
    claimedBy: string;
    generatedAtMs: number;
    body: unknown;
    totals: ReportTotals;
    deliver: boolean;
  },
): Promise<boolean> {
  const rows = await db
    .update(leakReports)
    .set({
      state: 'done',
      generatedAtMs: o.generatedAtMs,
      body: o.body,
      ...o.totals,
      error: null,
      delivery: o.deliver ? 'pending' : 'none',
      deliveryNextAtMs: o.deliver ? o.generatedAtMs : null,
    })
    .where(
      and(
        eq(leakReports.id, id),
        eq(leakReports.state, 'running'),
        eq(leakReports.claimedBy, o.claimedBy),
      ),
    )
    .returning({ id: leakReports.id });
  return rows.length === 1;
}

export async function failReport(
  db: Db,
  id: number,
  o: { claimedBy: string; error: string },
): Promise<void> {
  await db
    .update(leakReports)
    .set({ state: 'failed', error: o.error.slice(0, 2000) })
    .where(
      and(
        eq(leakReports.id, id),
        eq(leakReports.state, 'running'),
        eq(leakReports.claimedBy, o.claimedBy),
      ),
    );
}

const { body: _body, ...summaryColumns } = getTableColumns(leakReports);

/** The newest reports first, without bodies; `beforeId` pages back. */
export async function listReports(
  db: Db,
  o: { limit: number; beforeId?: number | undefined; schedule?: string | undefined },
): Promise<ReportSummary[]> {
  return db
    .select(summaryColumns)
    .from(leakReports)
    .where(
      and(
        o.beforeId === undefined ? undefined : lt(leakReports.id, o.beforeId),
        o.schedule === undefined ? undefined : eq(leakReports.schedule, o.schedule),
      ),
    )
    .orderBy(desc(leakReports.id))
    .limit(o.limit);
}

/**
 * One report by id, or the newest finished one (of one schedule when `schedule` is given);
 * undefined when there is none.
 */
export async function getReport(
  db: Db,
  id: number | 'latest',
  schedule?: string,
): Promise<StoredReport | undefined> {
  const [row] =
    id === 'latest'
      ? await db
          .select()
          .from(leakReports)
          .where(
            and(
              eq(leakReports.state, 'done'),
              schedule === undefined ? undefined : eq(leakReports.schedule, schedule),
            ),
          )
          .orderBy(desc(leakReports.generatedAtMs), desc(leakReports.id))
          .limit(1)
      : await db.select().from(leakReports).where(eq(leakReports.id, id));
  return row;
}

/**
 * The newest finished report of a schedule and scope made before `beforeId`: what a new one
 * compares with.
 */
export async function previousReport(
  db: Db,
  o: { schedule: string; scope?: string; beforeId: number },
): Promise<StoredReport | undefined> {
  const [row] = await db
    .select()
    .from(leakReports)
    .where(
      and(
        eq(leakReports.schedule, o.schedule),
        eq(leakReports.scope, o.scope ?? ''),
        eq(leakReports.state, 'done'),
        lt(leakReports.id, o.beforeId),
      ),
    )
    .orderBy(desc(leakReports.id))
    .limit(1);
  return row;
}

/**
 * Which schedules' deliveries a claim may take: only those named, or all but those named. The
 * server leaves out the schedules whose webhook already has a delivery in flight, so that one
 * receiver holds one of its sending slots at a time.
 */
export type DeliverySchedules = { only: readonly string[] } | { except: readonly string[] };

/** The SQL condition that keeps a claim to the schedules `schedules` allows. */
function ofSchedules(schedules: DeliverySchedules | undefined) {
  const names = (list: readonly string[]) =>
    sql.join(
      list.map((name) => sql`${name}`),
      sql`, `,
    );
  if (schedules !== undefined && 'only' in schedules) {
    return schedules.only.length === 0
      ? sql`and false`
      : sql`and schedule in (${names(schedules.only)})`;
  }
  if (schedules !== undefined && schedules.except.length > 0) {
    return sql`and schedule not in (${names(schedules.except)})`;
  }
  return sql``;
}

/**
 * The schedules with a delivery due now (of those `schedules` allows), ordered by their oldest due
 * delivery, in the order `claimDelivery` takes them: the server leases a schedule's receiver
 * before it claims that schedule's oldest delivery, and tries the receivers in this order.
 */
export async function dueDeliverySchedules(
  db: Db,
  o: { nowMs: number; schedules?: DeliverySchedules },
): Promise<string[]> {
  const rows = await queryRows<{ schedule: string }>(
    db,
    sql`select schedule from (
          select distinct on (schedule) schedule, delivery_next_at_ms, id from leak_reports
          where delivery = 'pending' and delivery_next_at_ms <= ${o.nowMs} ${ofSchedules(o.schedules)}
          order by schedule, delivery_next_at_ms, id) oldest
        order by delivery_next_at_ms, id`,
  );
  return rows.map((row) => row.schedule);
}

/**
 * Takes the oldest due delivery for this process (of the schedules `schedules` allows), leasing it
 * for `leaseMs` (its next try moves past the lease, so a replica that dies mid-delivery only
 * delays it). `skip locked` lets several replicas take different reports at once.
 */
export async function claimDelivery(
  db: Db,
  o: { nowMs: number; leaseMs: number; schedules?: DeliverySchedules },
): Promise<{ id: number; schedule: string; body: unknown; attempts: number } | undefined> {
  if (o.schedules !== undefined && 'only' in o.schedules && o.schedules.only.length === 0) {
    return undefined;
  }
  const [row] = await queryRows<{ id: number; schedule: string; body: unknown; attempts: number }>(
    db,
    sql`update leak_reports set delivery_attempts = delivery_attempts + 1,
          delivery_next_at_ms = ${o.nowMs + o.leaseMs}
        where id = (select id from leak_reports
                    where delivery = 'pending' and delivery_next_at_ms <= ${o.nowMs} ${ofSchedules(o.schedules)}
                    order by delivery_next_at_ms, id limit 1 for update skip locked)
        returning id, schedule, body, delivery_attempts as attempts`,
  );
  if (!row) return undefined;
  return {
    id: Number(row.id),
    schedule: row.schedule,
    body: typeof row.body === 'string' ? JSON.parse(row.body) : row.body,
    attempts: Number(row.attempts),
  };
}

/** What came of one delivery attempt: done, to be tried again at `retryAtMs`, or given up. */
export type DeliveryOutcome =
  | { delivered: true; atMs: number }
  | { delivered: false; error: string; retryAtMs: number | null };

export async function recordDelivery(db: Db, id: number, outcome: DeliveryOutcome): Promise<void> {
  await db
    .update(leakReports)
    .set(
      outcome.delivered
        ? {
            delivery: 'delivered',
            deliveredAtMs: outcome.atMs,
            deliveryNextAtMs: null,
            deliveryError: null,
          }
        : {
            delivery: outcome.retryAtMs === null ? 'failed' : 'pending',
            deliveryNextAtMs: outcome.retryAtMs,
            deliveryError: outcome.error.slice(0, 2000),
          },
    )
    .where(and(eq(leakReports.id, id), eq(leakReports.delivery, 'pending')));
}

/** Retention: reports generated (or, unfinished, claimed) before the cutoff are deleted. */
export async function deleteReportsBefore(db: Db, cutoffMs: number): Promise<number> {
  const rows = await db
    .delete(leakReports)
    .where(sql`coalesce(${leakReports.generatedAtMs}, ${leakReports.claimedAtMs}) < ${cutoffMs}`)
    .returning({ id: leakReports.id });
  return rows.length;
}
