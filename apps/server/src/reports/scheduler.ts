import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type LeakReport, type ReportScope, scopeKey } from '@fleetpmap/analysis';
import { buildAndStoreReport } from '@fleetpmap/api';
import {
  claimDelivery,
  claimReportSlot,
  type Db,
  type Metric,
  recordDelivery,
} from '@fleetpmap/db';
import { Cron } from 'croner';
import { DELIVERY_BACKOFF_MS, postReport, WEBHOOK_TIMEOUT_MS, type Webhook } from './webhook.ts';

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
/** A delivery in flight holds its report this long: the webhook's timeout, and a margin. */
const DELIVERY_LEASE_MS = WEBHOOK_TIMEOUT_MS + 20_000;

/** One schedule of fleet reports: the server's own (`scheduled`), or a team's. */
export interface ReportSchedule {
  /** the rows' schedule name; a report is compared with the previous one of the same name */
  name: string;
  /** a cron pattern, read in `timeZone` */
  pattern: string;
  timeZone: string;
  windowMs: number;
  metric: Metric;
  /** the hosts it covers */
  scope: ReportScope;
}

/** Where each schedule's reports go: its own webhook, else the server's. */
export interface ReportWebhooks {
  /** the server's webhook (FLEETPMAP_REPORT_WEBHOOK_URL): `scheduled` and `manual` reports */
  fallback?: Webhook | undefined;
  /** a team schedule's own */
  bySchedule?: ReadonlyMap<string, Webhook>;
}

export interface ReportTickOutcome {
  /** the ids of the reports this tick built */
  built: number[];
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
 * One tick of the report job, run by every replica every half minute: for each schedule, claims
 * and builds the current slot's report if no replica has (the slot's unique row decides), then
 * sends due webhook deliveries, each taken by one replica. A schedule whose build fails does not
 * hold up the others; the tick then fails with every reason, and the slot is retried. A
 * scheduled report covers the window ending at its slot, however late it is built.
 */
export function createReportTick(
  db: Db,
  schedules: readonly ReportSchedule[],
  opts: { webhooks?: ReportWebhooks; claimedBy?: string; nowMs?: () => number } = {},
): () => Promise<ReportTickOutcome> {
  const crons = schedules.map((schedule) => ({
    schedule,
    cron: new Cron(schedule.pattern, { paused: true, timezone: schedule.timeZone }),
  }));
  const webhookFor = (name: string) =>
    opts.webhooks?.bySchedule?.get(name) ?? opts.webhooks?.fallback;
  const anyWebhook =
    opts.webhooks?.fallback !== undefined || (opts.webhooks?.bySchedule?.size ?? 0) > 0;
  const claimedBy = opts.claimedBy ?? processName();
  const now = opts.nowMs ?? Date.now;
  return async () => {
    const outcome: ReportTickOutcome = { built: [], delivered: [], failedDeliveries: [] };
    const failures: string[] = [];
    const nowMs = now();
    for (const { schedule, cron } of crons) {
      const slotMs = dueSlot(cron, nowMs);
      if (slotMs === undefined) continue;
      try {
        const claim = await claimReportSlot(db, {
          schedule: schedule.name,
          slotMs,
          scope: scopeKey(schedule.scope),
          windowMs: schedule.windowMs,
          metric: schedule.metric,
          claimedBy,
          nowMs,
          staleAfterMs: STALE_BUILD_MS,
          retryAfterMs: RETRY_FAILED_BUILD_MS,
          maxAttempts: MAX_BUILD_ATTEMPTS,
        });
        if (!claim) continue;
        await buildAndStoreReport(db, {
          id: claim.id,
          schedule: schedule.name,
          windowMs: schedule.windowMs,
          metric: schedule.metric,
          nowMs,
          slotMs,
          claimedBy,
          deliver: webhookFor(schedule.name) !== undefined,
          scope: schedule.scope,
        });
        outcome.built.push(claim.id);
      } catch (error) {
        failures.push(`${schedule.name}: ${(error as Error).message}`);
      }
    }
    if (anyWebhook) await deliverDue(db, webhookFor, now, outcome);
    if (failures.length > 0) throw new Error(`report builds failed: ${failures.join('; ')}`);
    return outcome;
  };
}

async function deliverDue(
  db: Db,
  webhookFor: (schedule: string) => Webhook | undefined,
  now: () => number,
  outcome: ReportTickOutcome,
): Promise<void> {
  for (let i = 0; i < MAX_DELIVERIES_PER_TICK; i++) {
    const due = await claimDelivery(db, { nowMs: now(), leaseMs: DELIVERY_LEASE_MS });
    if (!due) return;
    const webhook = webhookFor(due.schedule);
    if (!webhook) {
      // Its schedule's webhook was taken out of the configuration since: nowhere to send it.
      await recordDelivery(db, due.id, {
        delivered: false,
        error: `no webhook is configured for schedule ${due.schedule}`,
        retryAtMs: null,
      });
      outcome.failedDeliveries.push(due.id);
      continue;
    }
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
