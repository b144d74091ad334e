import { METRICS } from '@fleetpmap/db';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { ReportServices } from '../reports/report-services.ts';
import { adminProcedure, readerProcedure, router } from '../trpc.ts';
import { hostFilter, topRow } from './query.ts';

const HOUR_MS = 3_600_000;

/** A listed leak: the fields of `top`'s row that a report keeps (analysis' `ReportProcess`). */
const reportProcess = {
  ...topRow.pick({
    host: true,
    pid: true,
    startTicks: true,
    comm: true,
    cmdline: true,
    exe: true,
    cgroup: true,
    firstSeenMs: true,
    startedAtMs: true,
    currentKb: true,
    growthKb: true,
    slopeKbPerHour: true,
    pctPerHour: true,
    confidence: true,
    leak: true,
    timeToLimitHours: true,
    limitKb: true,
    incarnations: true,
  }).shape,
  /** absent in reports stored before it was recorded */
  growingSinceMs: topRow.shape.growingSinceMs.optional(),
};

const scope = z.strictObject({
  hostGlob: z.string().nullable(),
  labels: z.record(z.string(), z.string()).nullable(),
});

/** The stored report as analysis' `buildLeakReport` makes it (format version 1). */
const leakReport = z.strictObject({
  version: z.literal(1),
  generatedAtMs: z.int(),
  scope,
  window: z.strictObject({ fromMs: z.int(), toMs: z.int(), ms: z.int() }),
  metric: z.string(),
  fleet: z.strictObject({
    hosts: z.int(),
    processes: z.int(),
    leakingHosts: z.int(),
    leakingProcesses: z.int(),
    leakingKbPerHour: z.number(),
  }),
  leaks: z.array(
    z.strictObject({ ...reportProcess, status: z.enum(['new', 'continuing']).nullable() }),
  ),
  leaksOmitted: z.int(),
  groups: z.array(
    z.strictObject({
      group: z.string(),
      hosts: z.int(),
      leakingHosts: z.int(),
      processes: z.int(),
      leakingProcesses: z.int(),
      medianSlopeKbPerHour: z.number(),
      medianPctPerHour: z.number(),
      medianLeakingSlopeKbPerHour: z.number().nullable(),
    }),
  ),
  groupsOmitted: z.int(),
  changes: z
    .strictObject({
      previousId: z.string(),
      previousGeneratedAtMs: z.int(),
      newLeaks: z.int(),
      continuingLeaks: z.int(),
      resolved: z.array(
        z.strictObject({
          host: z.string(),
          pid: z.int(),
          comm: z.string(),
          cmdline: z.string(),
          exe: z.string().nullable(),
        }),
      ),
      resolvedOmitted: z.int(),
    })
    .nullable(),
});

const listing = z.strictObject({
  id: z.int(),
  /** the schedule's name, or `manual` for `report run` */
  schedule: z.string(),
  slotMs: z.int().nullable(),
  scope,
  state: z.enum(['running', 'done', 'failed']),
  windowMs: z.int(),
  metric: z.string(),
  generatedAtMs: z.int().nullable(),
  hosts: z.int().nullable(),
  processes: z.int().nullable(),
  leakingHosts: z.int().nullable(),
  leakingProcesses: z.int().nullable(),
  newLeaks: z.int().nullable(),
  error: z.string().nullable(),
  delivery: z.enum(['none', 'pending', 'delivered', 'failed']),
  deliveryAttempts: z.int(),
  deliveredAtMs: z.int().nullable(),
  deliveryError: z.string().nullable(),
});

const storedReport = listing.extend({ report: leakReport });

const reportId = z.int().min(1).max(2_147_483_647);
const scheduleName = z.string().min(1).max(63);

function reports(ctx: { services: { reports?: ReportServices } }): ReportServices {
  const r = ctx.services.reports;
  if (!r) throw new ApiError('DATABASE_UNAVAILABLE', 'this server keeps no reports');
  return r;
}

export const reportRouter = router({
  /** The newest reports first (scheduled and manual), without their contents. */
  list: readerProcedure
    .input(
      z.strictObject({
        limit: z.int().min(1).max(1000).default(20),
        beforeId: reportId.optional(),
        schedule: scheduleName.optional(),
      }),
    )
    .output(z.array(listing))
    .query(({ ctx, input }) => reports(ctx).list(input)),
  /** One finished report, or the newest one (of one schedule, if named) when no id is given. */
  get: readerProcedure
    .input(
      z
        .strictObject({ id: reportId.optional(), schedule: scheduleName.optional() })
        .refine((v) => v.id === undefined || v.schedule === undefined, {
          message: 'an id or a schedule, not both',
        }),
    )
    .output(storedReport)
    .query(({ ctx, input }) => reports(ctx).get(input.id ?? 'latest', input.schedule)),
  /** Makes a report now over the window given, stores it and, if asked, sends it to the webhook. */
  run: adminProcedure
    .input(
      z.strictObject({
        windowMs: z
          .int()
          .min(5 * 60_000, 'a report covers at least 5m')
          .max(31 * 24 * HOUR_MS, 'a report covers at most 31d'),
        metric: z.enum(METRICS).default('anon'),
        deliver: z.boolean().default(false),
        ...hostFilter,
      }),
    )
    .output(storedReport)
    .mutation(({ ctx, input }) => reports(ctx).run(input)),
});
