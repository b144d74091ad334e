import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type LeakReport, type ReportScope, scopeKey } from '@fleetpmap/analysis';
import { buildAndStoreReport } from '@fleetpmap/api';
import {
  claimDelivery,
  claimReportSlot,
  type Db,
  type DeliverySchedules,
  dueDeliverySchedules,
  type Metric,
  recordDelivery,
  releaseReceiverLeases,
  takeReceiverLeases,
} from '@fleetpmap/db';
import { Cron } from 'croner';
import {
  DELIVERY_BACKOFF_MS,
  NoAnswerError,
  postReport,
  WEBHOOK_TIMEOUT_MS,
  type Webhook,
} from './webhook.ts';

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
/**
 * Deliveries in flight at once, per server process. A receiver takes one of them at a time (see
 * `deliverDue`), so one that hangs until the timeout holds up one, not every other team's report
 * behind it.
 */
export const DELIVERY_CONCURRENCY = 4;
/**
 * Deliveries in flight at once to one origin (scheme, host and port), over all its webhook URLs
 * and all server processes on the database: a host that hangs on every path holds at most half of
 * a process's slots, however many webhooks it serves and however many replicas send to it.
 */
export const DELIVERY_CONCURRENCY_PER_ORIGIN = 2;
/**
 * A delivery in flight holds its report, and its receiver's leases, this long past its claim: the
 * timeout, and a margin.
 */
const DELIVERY_LEASE_MARGIN_MS = 20_000;

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
 * sends due webhook deliveries, a few at once, each taken by one replica. A schedule whose build
 * fails does not hold up the others; the tick then fails with every reason, and the slot is
 * retried. A scheduled report covers the window ending at its slot, however late it is built.
 */
export function createReportTick(
  db: Db,
  schedules: readonly ReportSchedule[],
  opts: {
    webhooks?: ReportWebhooks;
    claimedBy?: string;
    nowMs?: () => number;
    /** how long a receiver may take to answer (WEBHOOK_TIMEOUT_MS) */
    webhookTimeoutMs?: number;
  } = {},
): (stop?: AbortSignal) => Promise<ReportTickOutcome> {
  const crons = schedules.map((schedule) => ({
    schedule,
    cron: new Cron(schedule.pattern, { paused: true, timezone: schedule.timeZone }),
  }));
  const webhooks = opts.webhooks ?? {};
  const anyWebhook = webhooks.fallback !== undefined || (webhooks.bySchedule?.size ?? 0) > 0;
  const claimedBy = opts.claimedBy ?? processName();
  const now = opts.nowMs ?? Date.now;
  const timeoutMs = opts.webhookTimeoutMs ?? WEBHOOK_TIMEOUT_MS;
  return async (stop) => {
    const outcome: ReportTickOutcome = { built: [], delivered: [], failedDeliveries: [] };
    const failures: string[] = [];
    const nowMs = now();
    for (const { schedule, cron } of crons) {
      if (stop?.aborted) break;
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
          deliver: webhookFor(webhooks, schedule.name) !== undefined,
          scope: schedule.scope,
        });
        outcome.built.push(claim.id);
      } catch (error) {
        failures.push(`${schedule.name}: ${(error as Error).message}`);
      }
    }
    if (anyWebhook) await deliverDue(db, { webhooks, now, timeoutMs, claimedBy, stop }, outcome);
    if (failures.length > 0) throw new Error(`report builds failed: ${failures.join('; ')}`);
    return outcome;
  };
}

interface DeliveryOptions {
  webhooks: ReportWebhooks;
  now: () => number;
  /** how long a receiver may take to answer; a claim's lease is this and a margin */
  timeoutMs: number;
  /** this process, as the holder of its receivers' leases */
  claimedBy: string;
  /** the server is shutting down: claim nothing more, cut the sends in flight short */
  stop?: AbortSignal | undefined;
}

/** A schedule's webhook: its own, else the server's. */
function webhookFor(webhooks: ReportWebhooks, schedule: string): Webhook | undefined {
  return webhooks.bySchedule?.get(schedule) ?? webhooks.fallback;
}

/** Where a webhook's deliveries go: its URL (the receiver) and that URL's origin. */
interface Receiver {
  url: string;
  origin: string;
}

/** A webhook's receiver; a URL that does not parse is taken as its own origin. */
function receiverOf(hook: Webhook): Receiver {
  try {
    const url = new URL(hook.url);
    return { url: url.href, origin: url.origin };
  } catch {
    return { url: hook.url, origin: hook.url };
  }
}

/**
 * The keys of a receiver's leases, as `takeReceiverLeases` takes them: its URL's (one delivery in
 * flight to it), then one of its origin's slots. Hashes, not the URL itself: a webhook URL may
 * carry its secret token, and the table is read by anyone who reads the database.
 */
function leaseKeysOf(receiver: Receiver): string[][] {
  const hash = (text: string) => createHash('sha256').update(text).digest('hex');
  const origin = hash(receiver.origin);
  return [
    [`url:${hash(receiver.url)}`],
    Array.from(
      { length: DELIVERY_CONCURRENCY_PER_ORIGIN },
      (_, slot) => `origin:${origin}#${slot}`,
    ),
  ];
}

/** Receiver leases this process has taken, to tell them apart (see `releaseReceiverLeases`). */
let receiverLeasesTaken = 0;

/**
 * The schedules whose deliveries may be claimed when `free` says which webhooks may take one more;
 * undefined when none may. A schedule without a webhook of its own uses the server's (`fallback`),
 * so when that one is not free, only the schedules with a free one of their own are left.
 */
function claimableSchedules(
  webhooks: ReportWebhooks,
  free: (hook: Webhook) => boolean,
): DeliverySchedules | undefined {
  const own = [...(webhooks.bySchedule ?? new Map<string, Webhook>())];
  if (webhooks.fallback === undefined || free(webhooks.fallback)) {
    return { except: own.filter(([, hook]) => !free(hook)).map(([name]) => name) };
  }
  const only = own.filter(([, hook]) => free(hook)).map(([name]) => name);
  return only.length > 0 ? { only } : undefined;
}

/**
 * Sends the due deliveries, up to `DELIVERY_CONCURRENCY` at once. Each worker claims one delivery
 * just before sending it (so its lease runs from its own send, not from the tick's start), sends
 * it and records the outcome, then claims the next, until nothing is due or the tick's share is
 * taken. The claim's `skip locked` and lease keep each delivery to one worker of one replica.
 * Every worker finishes before the tick does, so the outcome lists every delivery tried.
 *
 * A receiver is one webhook URL, not one schedule: the schedules without a webhook of their own
 * all post to the server's, and it is one endpoint (for a chat tool, one channel) whether one
 * schedule or five feed it. It has one delivery in flight at a time, over all server processes on
 * the database: a receiver that hangs holds one slot of one process while the others keep serving
 * the other receivers, and its reports go one after another in the order they are claimed (oldest
 * due first), never racing each other to the reader. A URL rather than its whole origin, because
 * teams' webhooks often share one host (a chat service, a company gateway) where one team's hook
 * can hang or be deleted while the others work; an origin still takes at most
 * `DELIVERY_CONCURRENCY_PER_ORIGIN` deliveries at once, for a host that hangs on all its paths. A
 * receiver that gave no answer within the timeout is sent nothing more this tick: its other
 * reports stay due, as they were, for the next tick, so a hanging receiver costs a tick one
 * timeout, not one per report queued for it.
 *
 * Across processes, the limits are leases in `webhook_receiver_leases`, taken before a delivery
 * is claimed and given back once it is recorded; a process that dies mid-delivery leaves them to
 * run out with its claim's lease, so it only delays that receiver. A receiver leased elsewhere is
 * passed over, and the next one in order of its oldest due delivery is tried, so a receiver
 * hanging in another replica does not hold up this one's others either.
 *
 * Claims are taken one at a time in this process, so that two workers never both take a report
 * for the same free receiver.
 */
async function deliverDue(db: Db, o: DeliveryOptions, outcome: ReportTickOutcome): Promise<void> {
  const leaseMs = o.timeoutMs + DELIVERY_LEASE_MARGIN_MS;
  let claims = 0;
  const sending = new Set<string>();
  const sendingPerOrigin = new Map<string, number>();
  const noAnswer = new Set<string>();
  const free = (hook: Webhook) => {
    const { url, origin } = receiverOf(hook);
    return (
      !sending.has(url) &&
      !noAnswer.has(url) &&
      (sendingPerOrigin.get(origin) ?? 0) < DELIVERY_CONCURRENCY_PER_ORIGIN
    );
  };
  type Lease = { keys: string[]; holder: string };
  const release = async (lease: Lease | undefined) => {
    // One that cannot be given back (the database is gone) runs out by itself.
    if (lease) await releaseReceiverLeases(db, lease).catch(() => undefined);
  };
  /** Leases `receiver` for one delivery; undefined when another process (or delivery) has it. */
  const lease = async (receiver: Receiver): Promise<Lease | undefined> => {
    const holder = `${o.claimedBy} #${++receiverLeasesTaken}`;
    const nowMs = o.now();
    const keys = await takeReceiverLeases(db, {
      groups: leaseKeysOf(receiver),
      holder,
      nowMs,
      untilMs: nowMs + leaseMs,
    });
    return keys && { keys, holder };
  };
  /** The oldest due delivery whose receiver is free here and not leased elsewhere, leased. */
  const claimForFreeReceiver = async () => {
    if (claims >= MAX_DELIVERIES_PER_TICK || o.stop?.aborted) return undefined;
    const schedules = claimableSchedules(o.webhooks, free);
    if (schedules === undefined) return undefined;
    const leasedElsewhere = new Set<string>();
    for (const schedule of await dueDeliverySchedules(db, { nowMs: o.now(), schedules })) {
      const webhook = webhookFor(o.webhooks, schedule);
      const receiver = webhook === undefined ? undefined : receiverOf(webhook);
      if (receiver && leasedElsewhere.has(receiver.url)) continue;
      const held = receiver && (await lease(receiver));
      if (receiver && !held) {
        leasedElsewhere.add(receiver.url);
        continue;
      }
      let due: Awaited<ReturnType<typeof claimDelivery>>;
      try {
        due = await claimDelivery(db, { nowMs: o.now(), leaseMs, schedules: { only: [schedule] } });
      } catch (error) {
        await release(held);
        throw error;
      }
      if (!due) {
        // Taken since it was listed: the receiver is free again for the next one.
        await release(held);
        continue;
      }
      claims++;
      if (receiver) {
        sending.add(receiver.url);
        sendingPerOrigin.set(receiver.origin, (sendingPerOrigin.get(receiver.origin) ?? 0) + 1);
      }
      return { due, webhook, receiver, held };
    }
    return undefined;
  };
  let claiming: Promise<unknown> = Promise.resolve();
  /** The next delivery for a free receiver, marked as sending before the next claim is made. */
  const claimNext = () => {
    const next = claiming.then(claimForFreeReceiver);
    claiming = next.catch(() => undefined);
    return next;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      const next = await claimNext();
      if (!next) return;
      const { due, webhook, receiver, held } = next;
      try {
        if (!(await deliverOne(db, due, webhook, o, outcome)) && receiver) {
          noAnswer.add(receiver.url);
        }
      } finally {
        await release(held);
        if (receiver) {
          sending.delete(receiver.url);
          sendingPerOrigin.set(receiver.origin, (sendingPerOrigin.get(receiver.origin) ?? 1) - 1);
        }
      }
    }
  };
  const settled = await Promise.allSettled(
    Array.from({ length: DELIVERY_CONCURRENCY }, () => worker()),
  );
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Sends one claimed delivery and records how it went; false when its receiver gave no answer. */
async function deliverOne(
  db: Db,
  due: { id: number; schedule: string; body: unknown; attempts: number },
  webhook: Webhook | undefined,
  o: DeliveryOptions,
  outcome: ReportTickOutcome,
): Promise<boolean> {
  if (!webhook) {
    // Its schedule's webhook was taken out of the configuration since: nowhere to send it.
    await recordDelivery(db, due.id, {
      delivered: false,
      error: `no webhook is configured for schedule ${due.schedule}`,
      retryAtMs: null,
    });
    outcome.failedDeliveries.push(due.id);
    return true;
  }
  try {
    await postReport(webhook, due.id, due.body as LeakReport, o.now(), o.timeoutMs, o.stop);
  } catch (error) {
    // A send cut short by a shutdown is due again at once, for a replica that stays up.
    const wait = o.stop?.aborted ? 0 : DELIVERY_BACKOFF_MS[due.attempts - 1];
    await recordDelivery(db, due.id, {
      delivered: false,
      error: (error as Error).message,
      retryAtMs: wait === undefined ? null : o.now() + wait,
    });
    outcome.failedDeliveries.push(due.id);
    return !(error instanceof NoAnswerError);
  }
  await recordDelivery(db, due.id, { delivered: true, atMs: o.now() });
  outcome.delivered.push(due.id);
  return true;
}
