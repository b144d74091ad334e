import { METRICS } from '@fleetpmap/db';
import { mappingSchema } from '@fleetpmap/protocol';
import { hostGlobProblem } from '@fleetpmap/protocol/host-glob';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { QueryServices } from '../queries/query-services.ts';
import { readerProcedure, router } from '../trpc.ts';

const HOUR_MS = 3_600_000;
/** Windows beyond the hourly aggregates' retention make no sense; a week is what `top` offers. */
const MAX_WINDOW_MS = 31 * 24 * HOUR_MS;
const MAX_LIMIT = 100_000;

const metric = z.enum(METRICS);
const hostName = z.string().min(1).max(253);
const pid = z.int().min(1).max(4_194_304);
const timeMs = z.int().min(0).max(8_640_000_000_000);
const MAX_HOST_GLOB_CHARS = 253;

/**
 * Refuses a malformed host glob (`*`, `?`, `[a-z]`, `[!…]`, `{a,b}`) with what is wrong: a typo
 * must not pass for a glob that matches no host. Not parsed at all beyond the length limit.
 */
export function checkHostGlob(glob: string, ctx: z.RefinementCtx): void {
  if (glob.length > MAX_HOST_GLOB_CHARS) return;
  const problem = hostGlobProblem(glob);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `host glob: ${problem}` });
}

/** `--host GLOB` and `--label k=v`: which hosts a question is about. */
export const hostFilter = {
  hostGlob: z.string().min(1).max(MAX_HOST_GLOB_CHARS).superRefine(checkHostGlob).optional(),
  labels: z
    .record(z.string().min(1).max(128), z.string().max(256))
    .refine((r) => Object.keys(r).length <= 32, { message: 'at most 32 labels' })
    .optional(),
};

const topInput = z.strictObject({
  ...hostFilter,
  windowMs: z
    .int()
    .min(60_000, 'the window is at least 1m')
    .max(MAX_WINDOW_MS, 'the window is at most 31d'),
  toMs: timeMs.optional(),
  metric: metric.default('anon'),
  comm: z.string().min(1).max(64).optional(),
  limit: z.int().min(1).max(MAX_LIMIT).default(20),
  all: z.boolean().default(false),
});

export const topRow = z.strictObject({
  host: z.string(),
  pid: z.int(),
  startTicks: z.int(),
  comm: z.string(),
  cmdline: z.string(),
  exe: z.string().nullable(),
  cgroup: z.string().nullable(),
  metric,
  firstSeenMs: z.int(),
  lastSeenMs: z.int(),
  startedAtMs: z.int().nullable(),
  currentKb: z.number(),
  growthKb: z.number(),
  slopeKbPerHour: z.number(),
  pctPerHour: z.number(),
  confidence: z.number().min(0).max(1),
  leak: z.boolean(),
  timeToLimitHours: z.number().nullable(),
  /** what the time to limit is measured against: MemTotal, or the cgroup limit when lower */
  limitKb: z.int().min(0).nullable(),
  reason: z.string(),
  /** for a leak that began inside the window after level memory: when its growth began */
  growingSinceMs: z.int().nullable(),
  incarnations: z.int().min(1),
  /** the end of the window the verdict was computed over */
  asOfMs: z.int(),
});

const pivotRow = z.strictObject({
  group: z.string(),
  hosts: z.int(),
  leakingHosts: z.int(),
  processes: z.int(),
  leakingProcesses: z.int(),
  medianSlopeKbPerHour: z.number(),
  medianPctPerHour: z.number(),
  medianLeakingSlopeKbPerHour: z.number().nullable(),
});

const psRow = z.strictObject({
  host: z.string(),
  pid: z.int(),
  startTicks: z.int(),
  comm: z.string(),
  cmdline: z.string(),
  takenAtMs: z.int(),
  firstSeenMs: z.int(),
  startedAtMs: z.int().nullable(),
  limitKb: z.int().min(0).nullable(),
  threads: z.int(),
  rssKb: z.number(),
  anonKb: z.number(),
  swapKb: z.number(),
  pssKb: z.number().nullable(),
  ussKb: z.number().nullable(),
  heapKb: z.number().nullable(),
  rollupAtMs: z.int().nullable(),
  heapAtMs: z.int().nullable(),
});

const historyOutput = z.strictObject({
  host: z.string(),
  pid: z.int(),
  startTicks: z.int(),
  comm: z.string(),
  cmdline: z.string(),
  metric,
  points: z.array(z.strictObject({ tMs: z.int(), kb: z.number() })),
  trend: z.strictObject({
    interceptKb: z.number(),
    slopeKbPerHour: z.number(),
    pctPerHour: z.number(),
    confidence: z.number(),
    leak: z.boolean(),
    reason: z.string(),
    timeToLimitHours: z.number().nullable(),
    limitKb: z.int().min(0).nullable(),
    onset: z
      .strictObject({
        atMs: z.int(),
        slopeBeforeKbPerHour: z.number(),
        slopeAfterKbPerHour: z.number(),
      })
      .nullable(),
  }),
});

const mapChange = z.strictObject({
  kind: z.enum(['appeared', 'disappeared', 'grew', 'shrank', 'changed']),
  start: z.string(),
  end: z.string(),
  perms: z.string(),
  path: z.string(),
  rssBeforeKb: z.number(),
  rssAfterKb: z.number(),
  rssDeltaKb: z.number(),
  sizeBeforeKb: z.number(),
  sizeAfterKb: z.number(),
  sizeDeltaKb: z.number(),
});

function queries(ctx: { services: { queries?: QueryServices } }): QueryServices {
  const q = ctx.services.queries;
  if (!q) throw new ApiError('DATABASE_UNAVAILABLE', 'this server has no query services');
  return q;
}

export const processRouter = router({
  /** Processes ranked by growth of one metric over a window (aggregates, not raw samples). */
  top: readerProcedure
    .input(topInput)
    .output(z.array(topRow))
    .query(({ ctx, input }) => queries(ctx).top(input)),
  /** The fleet pivot: per exe, comm or cgroup, on how many hosts it leaks. */
  pivot: readerProcedure
    .input(
      topInput
        .omit({ all: true })
        .extend({ groupBy: z.enum(['exe', 'comm', 'cgroup']).default('exe') }),
    )
    .output(z.array(pivotRow))
    .query(({ ctx, input }) => queries(ctx).pivot(input)),
  /** The latest state of processes across hosts. */
  list: readerProcedure
    .input(
      z.strictObject({
        ...hostFilter,
        sort: z.enum(['rss', 'pss', 'uss', 'anon', 'heap', 'swap']).default('rss'),
        limit: z.int().min(1).max(MAX_LIMIT).default(50),
      }),
    )
    .output(z.array(psRow))
    .query(({ ctx, input }) => queries(ctx).ps(input)),
  /** One process's samples over a window, with the fitted floor trend and the verdict. */
  history: readerProcedure
    .input(
      z
        .strictObject({
          host: hostName,
          pid,
          startTicks: z.int().min(0).optional(),
          fromMs: timeMs,
          toMs: timeMs,
          metric: metric.default('anon'),
        })
        .refine((v) => v.toMs > v.fromMs && v.toMs - v.fromMs <= MAX_WINDOW_MS, {
          message: 'the window must end after it starts and span at most 31 days',
        }),
    )
    .output(historyOutput)
    .query(({ ctx, input }) => queries(ctx).history(input)),
});

export const mapRouter = router({
  /** Mapping-by-mapping difference between the first and last stored full map in a window. */
  diff: readerProcedure
    .input(
      z.strictObject({ host: hostName, pid, fromMs: timeMs.optional(), toMs: timeMs.optional() }),
    )
    .output(
      z.strictObject({
        host: z.string(),
        pid: z.int(),
        startTicks: z.int(),
        fromMs: z.int(),
        toMs: z.int(),
        rssBeforeKb: z.number(),
        rssAfterKb: z.number(),
        changes: z.array(mapChange),
      }),
    )
    .query(({ ctx, input }) => queries(ctx).diff(input)),
  /** The stored full map nearest to a time, mappings exactly as the agent sent them. */
  at: readerProcedure
    .input(z.strictObject({ host: hostName, pid, atMs: timeMs }))
    .output(
      z.strictObject({
        host: z.string(),
        pid: z.int(),
        startTicks: z.int(),
        takenAtMs: z.int(),
        comm: z.string(),
        cmdline: z.string(),
        mappings: z.array(mappingSchema),
      }),
    )
    .query(({ ctx, input }) => queries(ctx).at(input)),
});
