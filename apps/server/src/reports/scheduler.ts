import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeakReport } from '@fleetpmap/analysis';
import { buildAndStoreReport } from '@fleetpmap/api';
import {
  claimDelivery,
  claimReportSlot,
  type Db,
  type Metric,
  recordDelivery,
} from '@fleetpmap/db';
import { Cron } from 'croner';
import { DELIVERY_BACKOFF_MS, postReport, type Webhook } from './webhook.ts';

/** The rows of scheduled reports carry this schedule name; `report run` makes `manual` ones. */
export const SCHEDULED = 'scheduled';

/**
 * A server that starts (or a database that comes back) within this long after a slot it missed
 * still makes that slot's report; an older slot is skipped, so a server started in the afternoon
 * does not send the morning's report as if it were new.
 */
export const CATCH_UP_MS = 60 * 60_000;

/** A build still `running` after this long is taken over: its server is presumed dead. */
const STALE_BUILD_MS = 15 * 60_000;
const RETRY_FAILED_BUILD_MS = 60_000;
const MAX_BUILD_ATTEMPTS = 3;
/** Deliveries per tick, at most: a long queue after an outage drains over several ticks. */
const MAX_DELIVERIES_PER_TICK = 20;
/** A delivery in flight holds its report this long (the webhook timeout, and a margin). */
const DELIVERY_LEASE_MS = 30_000;

export interface ReportScheduleConfig {
  /** a cron pattern; null: no scheduled reports (deliveries of manual ones still go out) */
  schedule: string | null;
  timeZone: string;
  windowMs: number;
  metric: Metric;
}

export interface ReportTickOutcome {
  /** the id of the report this tick built, if it built one */
  built?: number;
  delivered: number[];
  failedDeliveries: number[];
}

/**
 * Which server process holds a claim, for the rows and for people reading them: `hostname:pid`,
 * and a random tag, because containers often share both (every one is pid 1, and some run with
 * one host name), and a claim must never be taken for another's.
 */
const PROCESS_NAME = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

export function processName(): string {
  return PROCESS_NAME;
}

/** The newest slot at or before `nowMs`, if it is young enough to be made now. */
export function dueSlot(cron: Cron, nowMs: number, catchUpMs: number = CATCH_UP_MS) {
  // A millisecond on: a slot falling exactly on `nowMs` is due now, not only a tick later.
  const [previous] = cron.previousRuns(1, new Date(nowMs + 1));
  if (!previous) return undefined;
  const slotMs = previous.getTime();
  return nowMs - slotMs <= catchUpMs ? slotMs : undefined;
}

/**
 * One tick of the report job, run by every replica every half minute: claims and builds the
 * current slot's report if no replica has (the slot's unique row decides), then sends due
 * webhook deliveries, each taken by one replica.
 */
export function createReportTick(
  db: Db,
  config: ReportScheduleConfig,
  opts: { webhook?: Webhook | undefined; claimedBy?: string; nowMs?: () => number } = {},
): () => Promise<ReportTickOutcome> {
  const cron =
    config.schedule === null
      ? undefined
      : new Cron(config.schedule, { paused: true, timezone: config.timeZone });
  const claimedBy = opts.claimedBy ?? processName();
  const now = opts.nowMs ?? Date.now;
  return async () => {
    const outcome: ReportTickOutcome = { delivered: [], failedDeliveries: [] };
    const nowMs = now();
    const slotMs = cron ? dueSlot(cron, nowMs) : undefined;
    if (slotMs !== undefined) {
      const claim = await claimReportSlot(db, {
        schedule: SCHEDULED,
        slotMs,
        windowMs: config.windowMs,
        metric: config.metric,
        claimedBy,
        nowMs,
        staleAfterMs: STALE_BUILD_MS,
        retryAfterMs: RETRY_FAILED_BUILD_MS,
        maxAttempts: MAX_BUILD_ATTEMPTS,
      });
      if (claim) {
        await buildAndStoreReport(db, {
          id: claim.id,
          schedule: SCHEDULED,
          windowMs: config.windowMs,
          metric: config.metric,
          nowMs,
          claimedBy,
          deliver: opts.webhook !== undefined,
        });
        outcome.built = claim.id;
      }
    }
    if (opts.webhook) await deliverDue(db, opts.webhook, now, outcome);
    return outcome;
  };
}

async function deliverDue(
  db: Db,
  webhook: Webhook,
  now: () => number,
  outcome: ReportTickOutcome,
): Promise<void> {
  for (let i = 0; i < MAX_DELIVERIES_PER_TICK; i++) {
    const due = await claimDelivery(db, { nowMs: now(), leaseMs: DELIVERY_LEASE_MS });
    if (!due) return;
    try {
      await postReport(webhook, due.id, due.body as LeakReport, now());
      await recordDelivery(db, due.id, { delivered: true, atMs: now() });
      outcome.delivered.push(due.id);
    } catch (error) {
      const wait = DELIVERY_BACKOFF_MS[due.attempts - 1];
      await recordDelivery(db, due.id, {
        delivered: false,
        error: (error as Error).message,
        retryAtMs: wait === undefined ? null : now() + wait,
      });
      outcome.failedDeliveries.push(due.id);
    }
  }
}
