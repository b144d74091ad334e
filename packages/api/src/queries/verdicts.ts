import {
  type Db,
  listVerdictRuns,
  type Metric,
  type RollupMarks,
  replaceVerdicts,
  rollupMarks,
  type StoredVerdict,
  type VerdictRun,
  withVerdictLock,
} from '@fleetpmap/db';
import type { TopRow } from './query-services.ts';
import { type DayBeforeReads, type ScoredRow, scoreWindow } from './score-window.ts';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** Which (metric, window) pairs the server scores ahead of time, after the rollup. */
export interface VerdictSchedule {
  windowsMs: readonly number[];
  metrics: readonly Metric[];
}

/** `top`'s default window and the usual questions: the last hour, day and week. */
export const DEFAULT_VERDICT_SCHEDULE: VerdictSchedule = {
  windowsMs: [HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS, 7 * 24 * HOUR_MS],
  metrics: ['anon'],
};

/**
 * How often one window's verdicts are recomputed: about a hundredth of the window, between five
 * minutes (the finest aggregate) and an hour (the hourly buckets of long windows). A verdict over
 * a week does not change in five minutes; one over an hour can.
 */
export function refreshPeriodMs(windowMs: number): number {
  return Math.min(HOUR_MS, Math.max(5 * MINUTE_MS, Math.round(windowMs / 96)));
}

/**
 * A run is also redone as soon as the rollup has moved, when redoing it costs at most a
 * hundredth of the time since the last one: a small fleet's verdicts follow every rollup, a
 * large one's wait for the period.
 */
const REFRESH_COST_FACTOR = 100;

/**
 * A stored run answers a window ending up to this long after the run's end (two refreshes
 * missed, and a minute of clock skew between replicas); an older one is not trusted, and `top`
 * scores the window live instead.
 */
export function staleAfterMs(windowMs: number): number {
  return 2 * refreshPeriodMs(windowMs) + MINUTE_MS;
}

/**
 * How far a stored run's end may lie from a window asked to end at a given time exactly (a
 * scheduled report's slot), either side: the clock skew `top` allows between replicas.
 */
export const EXACT_END_SLACK_MS = MINUTE_MS;

/**
 * The stored run that answers this window, if one is fresh enough and no late data (a backfill,
 * an import, a replayed spool) has been rolled up since it was computed. With `exactEnd`, only
 * a run ending within `EXACT_END_SLACK_MS` of the window's end answers it: a report for a slot
 * covers that slot's window, not one that ended up to half an hour earlier.
 */
export function usableRun(
  runs: readonly VerdictRun[],
  marks: RollupMarks,
  query: { metric: Metric; windowMs: number; toMs: number; exactEnd?: boolean | undefined },
): VerdictRun | undefined {
  const run = runs.find((r) => r.metric === query.metric && r.windowMs === query.windowMs);
  if (!run || run.watermarkMs < marks.lateDataMs) return undefined;
  if (query.exactEnd && Math.abs(run.toMs - query.toMs) > EXACT_END_SLACK_MS) return undefined;
  // A window ending before the run's (a question about the past) would see data it must not.
  if (query.toMs < run.toMs - MINUTE_MS) return undefined;
  return query.toMs <= run.toMs + staleAfterMs(run.windowMs) ? run : undefined;
}

export interface RefreshOutcome {
  metric: Metric;
  windowMs: number;
  rows: number;
  tookMs: number;
}

/**
 * Scores every due (metric, window) of the schedule over the whole fleet and stores the verdicts
 * (due: never scored, late data since, its period over, or cheap to redo after a rollup),
 * one transaction each under that run's advisory lock (one replica computes a run, the others skip
 * it).
 * Cost: one pass over the window's aggregates, in proportion to the processes, not the samples.
 */
export async function refreshVerdicts(
  db: Db,
  schedule: VerdictSchedule,
  opts: { nowMs: number; force?: boolean },
): Promise<RefreshOutcome[]> {
  const due = (
    runs: readonly VerdictRun[],
    marks: RollupMarks,
    metric: Metric,
    windowMs: number,
  ) => {
    if (opts.force) return true;
    const run = runs.find((r) => r.metric === metric && r.windowMs === windowMs);
    if (!run) return true;
    const sinceMs = opts.nowMs - run.toMs;
    const cheap =
      run.watermarkMs < marks.watermarkMs && sinceMs >= REFRESH_COST_FACTOR * run.tookMs;
    return run.watermarkMs < marks.lateDataMs || sinceMs >= refreshPeriodMs(windowMs) || cheap;
  };
  const [before, marksBefore] = await Promise.all([listVerdictRuns(db), rollupMarks(db)]);
  const done: RefreshOutcome[] = [];
  // The windows of up to a day all compare their end with the same hours a day earlier: one read.
  const dayBefore: DayBeforeReads = new Map();
  for (const metric of schedule.metrics) {
    for (const windowMs of schedule.windowsMs) {
      if (!due(before, marksBefore, metric, windowMs)) continue;
      const outcome = await withVerdictLock(db, { metric, windowMs }, async (tx) => {
        // Another replica may have stored this run while we waited for the lock.
        const marks = await rollupMarks(tx);
        if (!due(await listVerdictRuns(tx), marks, metric, windowMs)) return undefined;
        const started = performance.now();
        const scored = await scoreWindow(tx, { windowMs, metric, toMs: opts.nowMs }, opts.nowMs, {
          dayBefore,
          watermarkMs: marks.watermarkMs,
        });
        const tookMs = Math.round(performance.now() - started);
        await replaceVerdicts(
          tx,
          {
            metric,
            windowMs,
            toMs: opts.nowMs,
            watermarkMs: marks.watermarkMs,
            computedAtMs: Date.now(),
            tookMs,
          },
          scored.map(toStoredVerdict),
        );
        return { metric, windowMs, rows: scored.length, tookMs };
      });
      if (outcome) done.push(outcome);
    }
  }
  return done;
}

function toStoredVerdict({ hostId, bootId, row }: ScoredRow): StoredVerdict {
  return {
    hostId,
    host: row.host,
    bootId,
    pid: row.pid,
    startTicks: row.startTicks,
    comm: row.comm,
    cmdline: row.cmdline,
    exe: row.exe,
    cgroup: row.cgroup,
    firstSeenMs: row.firstSeenMs,
    lastSeenMs: row.lastSeenMs,
    startedAtMs: row.startedAtMs,
    currentKb: row.currentKb,
    growthKb: row.growthKb,
    slopeKbPerHour: row.slopeKbPerHour,
    pctPerHour: row.pctPerHour,
    confidence: row.confidence,
    leak: row.leak,
    timeToLimitHours: row.timeToLimitHours,
    limitKb: row.limitKb,
    reason: row.reason,
    growingSinceMs: row.growingSinceMs,
    incarnations: row.incarnations,
  };
}

export function fromStoredVerdict(v: StoredVerdict, metric: Metric, asOfMs: number): TopRow {
  return {
    host: v.host,
    pid: v.pid,
    startTicks: v.startTicks,
    comm: v.comm,
    cmdline: v.cmdline,
    exe: v.exe,
    cgroup: v.cgroup,
    metric,
    firstSeenMs: v.firstSeenMs,
    lastSeenMs: v.lastSeenMs,
    startedAtMs: v.startedAtMs,
    currentKb: v.currentKb,
    growthKb: v.growthKb,
    slopeKbPerHour: v.slopeKbPerHour,
    pctPerHour: v.pctPerHour,
    confidence: v.confidence,
    leak: v.leak,
    timeToLimitHours: v.timeToLimitHours,
    limitKb: v.limitKb,
    reason: v.reason,
    growingSinceMs: v.growingSinceMs,
    incarnations: v.incarnations,
    asOfMs,
  };
}
