import {
  buildLeakReport,
  type LeakReport,
  type PreviousReport,
  type ReportScope,
  scopeKey,
  scopeOfKey,
  WHOLE_FLEET,
} from '@fleetpmap/analysis';
import {
  type Db,
  failReport,
  finishReport,
  getReport,
  insertManualReport,
  listReports,
  MANUAL_SCHEDULE,
  type Metric,
  previousReport,
  type ReportSummary,
} from '@fleetpmap/db';
import { ApiError } from '../errors.ts';
import { createQueryServices } from '../queries/query-services.ts';

/** A report as listed: its row's state and totals, without the report itself. */
export type ReportListing = {
  id: number;
  schedule: string;
  slotMs: number | null;
  /** the hosts it covers; both null for the whole fleet */
  scope: ReportScope;
  state: 'running' | 'done' | 'failed';
  windowMs: number;
  metric: string;
  generatedAtMs: number | null;
  hosts: number | null;
  processes: number | null;
  leakingHosts: number | null;
  leakingProcesses: number | null;
  newLeaks: number | null;
  error: string | null;
  delivery: 'none' | 'pending' | 'delivered' | 'failed';
  deliveryAttempts: number;
  deliveredAtMs: number | null;
  deliveryError: string | null;
};

export type StoredLeakReport = ReportListing & { report: LeakReport };

export type ReportServices = {
  list(input: {
    limit: number;
    beforeId?: number | undefined;
    /** only this schedule's reports (`scheduled`, `manual` or a team's) */
    schedule?: string | undefined;
  }): Promise<ReportListing[]>;
  /** a finished report by id, or the newest one (of one schedule, when given) */
  get(id: number | 'latest', schedule?: string): Promise<StoredLeakReport>;
  /** builds a report now (not on the schedule) and stores it; `deliver` queues the webhook */
  run(input: {
    windowMs: number;
    metric: Metric;
    deliver: boolean;
    /** only these hosts (as `top --host` and `--label`); the whole fleet when omitted */
    hostGlob?: string | undefined;
    labels?: Record<string, string> | undefined;
  }): Promise<StoredLeakReport>;
};

export interface BuildReportInput {
  id: number;
  schedule: string;
  windowMs: number;
  metric: Metric;
  /** when the report is built: its `generatedAtMs` */
  nowMs: number;
  /**
   * A scheduled report's slot: the window ends there, however late the report is built, and is
   * judged from verdicts over that window. Without it (a report asked for now), the window ends
   * where the freshest verdicts end, as `top`'s.
   */
  slotMs?: number | undefined;
  claimedBy: string;
  deliver: boolean;
  /** the whole fleet when omitted (scheduled reports) */
  scope?: ReportScope;
}

/**
 * Builds the report of a claimed row from the fleet ranking over its window (the verdicts the
 * server stored after the rollup when they answer that window, else scored now), compares it with
 * the schedule's previous report, and stores it. A failure is recorded on the row (and rethrown), so
 * the slot is retried; a build that lost its claim stores nothing and returns undefined.
 */
export async function buildAndStoreReport(
  db: Db,
  input: BuildReportInput,
): Promise<LeakReport | undefined> {
  const scope = input.scope ?? WHOLE_FLEET;
  try {
    const fleet = await createQueryServices(db, () => input.nowMs).fleet({
      windowMs: input.windowMs,
      metric: input.metric,
      toMs: input.slotMs ?? input.nowMs,
      exactEnd: input.slotMs !== undefined,
      ...(scope.hostGlob === null ? {} : { hostGlob: scope.hostGlob }),
      ...(scope.labels === null ? {} : { labels: scope.labels }),
    });
    const before = await previousReport(db, {
      schedule: input.schedule,
      scope: scopeKey(scope),
      beforeId: input.id,
    });
    const report = buildLeakReport([...fleet.leaks, ...fleet.quiet], {
      generatedAtMs: input.nowMs,
      windowMs: input.windowMs,
      toMs: fleet.asOfMs,
      metric: input.metric,
      scope,
      previous: before ? previousOf(before.id, before.body) : null,
    });
    const stored = await finishReport(db, input.id, {
      claimedBy: input.claimedBy,
      generatedAtMs: report.generatedAtMs,
      body: report,
      totals: {
        hosts: report.fleet.hosts,
        processes: report.fleet.processes,
        leakingHosts: report.fleet.leakingHosts,
        leakingProcesses: report.fleet.leakingProcesses,
        newLeaks: report.changes?.newLeaks ?? null,
      },
      deliver: input.deliver,
    });
    return stored ? report : undefined;
  } catch (error) {
    await failReport(db, input.id, {
      claimedBy: input.claimedBy,
      error: error instanceof Error ? error.message : String(error),
    }).catch(() => undefined);
    throw error;
  }
}

/** What a new report needs of the previous one's stored body (bodies of other versions: none). */
function previousOf(id: number, body: unknown): PreviousReport | null {
  const b = body as Partial<LeakReport> | null;
  if (!b || typeof b.generatedAtMs !== 'number' || !Array.isArray(b.leaks)) return null;
  return { id: String(id), generatedAtMs: b.generatedAtMs, leaks: b.leaks };
}

function listing(r: ReportSummary): ReportListing {
  return {
    id: r.id,
    schedule: r.schedule,
    slotMs: r.slotMs,
    scope: scopeOfKey(r.scope),
    state: r.state,
    windowMs: r.windowMs,
    metric: r.metric,
    generatedAtMs: r.generatedAtMs,
    hosts: r.hosts,
    processes: r.processes,
    leakingHosts: r.leakingHosts,
    leakingProcesses: r.leakingProcesses,
    newLeaks: r.newLeaks,
    error: r.error,
    delivery: r.delivery,
    deliveryAttempts: r.deliveryAttempts,
    deliveredAtMs: r.deliveredAtMs,
    deliveryError: r.deliveryError,
  };
}

/**
 * The report procedures' storage side. `claimedBy` names this server process on the rows it
 * builds; `canDeliver` is whether a webhook is configured (a report asked to be delivered
 * without one is refused rather than queued for ever).
 */
export function createReportServices(
  db: Db,
  opts: { claimedBy: string; canDeliver: boolean; nowMs?: () => number },
): ReportServices {
  const now = opts.nowMs ?? Date.now;
  async function get(id: number | 'latest', schedule?: string): Promise<StoredLeakReport> {
    const row = await getReport(db, id, schedule);
    if (!row) {
      throw new ApiError(
        'NOT_FOUND',
        id !== 'latest'
          ? `no report with id ${id}`
          : schedule === undefined
            ? 'no report has been made yet'
            : `no report of schedule ${schedule} has been made yet`,
      );
    }
    if (row.state !== 'done') {
      throw new ApiError(
        'NOT_FOUND',
        `report ${id} is ${row.state}${row.error ? `: ${row.error}` : ''}`,
      );
    }
    const { body, ...rest } = row;
    return { ...listing(rest), report: body as LeakReport };
  }
  return {
    async list(input) {
      return (await listReports(db, input)).map(listing);
    },
    get,
    async run(input) {
      if (input.deliver && !opts.canDeliver) {
        throw new ApiError('INVALID_INPUT', 'this server has no report webhook configured', {
          field: 'deliver',
        });
      }
      const nowMs = now();
      const scope: ReportScope = {
        hostGlob: input.hostGlob ?? null,
        labels: input.labels && Object.keys(input.labels).length > 0 ? input.labels : null,
      };
      const id = await insertManualReport(db, {
        windowMs: input.windowMs,
        metric: input.metric,
        claimedBy: opts.claimedBy,
        nowMs,
        scope: scopeKey(scope),
      });
      await buildAndStoreReport(db, {
        id,
        schedule: MANUAL_SCHEDULE,
        windowMs: input.windowMs,
        metric: input.metric,
        nowMs,
        claimedBy: opts.claimedBy,
        deliver: input.deliver,
        scope,
      });
      return get(id);
    },
  };
}
