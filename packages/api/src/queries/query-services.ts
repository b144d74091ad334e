import {
  bucketize,
  exeGroup,
  FIVE_MINUTES_MS,
  floorPoints,
  type GroupPivot,
  type GrowthOnset,
  growthOnset,
  median,
  pivotByGroup,
  scoreIncarnation,
} from '@fleetpmap/analysis';
import {
  BUCKET_1H_MS,
  BUCKET_5M_MS,
  type Db,
  diffMappings,
  FINE_WINDOW_MAX_MS,
  getFullMap,
  latestProcesses,
  listFullMaps,
  listHosts,
  listVerdictRuns,
  METRICS,
  type Metric,
  metricValues,
  processSeries,
  readVerdictPoints,
  readVerdicts,
  rollupMarks,
} from '@fleetpmap/db';
import type { Mapping } from '@fleetpmap/protocol';
import { ApiError } from '../errors.ts';
import { chooseHosts, limitKbOf, scoreWindow } from './score-window.ts';
import { fromStoredVerdict, usableRun } from './verdicts.ts';

export type GroupBy = 'exe' | 'comm' | 'cgroup';

export type HostFilter = {
  /** shell-style glob over host names (`*`, `?`) */
  hostGlob?: string | undefined;
  /** every label must match */
  labels?: Record<string, string> | undefined;
};

export type TopInput = HostFilter & {
  windowMs: number;
  /** end of the window; the server's clock when omitted */
  toMs?: number | undefined;
  metric: Metric;
  comm?: string | undefined;
  limit: number;
  /** also processes not judged leaking */
  all: boolean;
};

export type TopRow = {
  host: string;
  pid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  exe: string | null;
  cgroup: string | null;
  metric: Metric;
  firstSeenMs: number;
  lastSeenMs: number;
  /** when the process started; null when its agent sent no boot time */
  startedAtMs: number | null;
  currentKb: number;
  growthKb: number;
  slopeKbPerHour: number;
  pctPerHour: number;
  confidence: number;
  leak: boolean;
  timeToLimitHours: number | null;
  /** what the time to limit is measured against: MemTotal, or the cgroup limit when lower */
  limitKb: number | null;
  reason: string;
  /** for a leak that began inside the window after level memory: when its growth began */
  growingSinceMs: number | null;
  /** incarnations (restarts) of this command on this host seen in the window */
  incarnations: number;
  /**
   * The end of the window the verdict was computed over: the stored run's end when `top` read
   * the verdicts the server stored after the rollup, else the asked end.
   */
  asOfMs: number;
};

export type PivotInput = Omit<TopInput, 'limit' | 'all'> & { groupBy: GroupBy; limit: number };

export type PsInput = HostFilter & {
  sort: 'rss' | 'pss' | 'uss' | 'anon' | 'heap' | 'swap';
  limit: number;
};

export type PsRow = {
  host: string;
  pid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  takenAtMs: number;
  firstSeenMs: number;
  /** when the process started; null when its agent sent no boot time */
  startedAtMs: number | null;
  threads: number;
  /** MemTotal, or the process's cgroup memory limit when lower; null when neither is known */
  limitKb: number | null;
  rssKb: number;
  anonKb: number;
  swapKb: number;
  /** null when the tier that measures it was not read recently */
  pssKb: number | null;
  ussKb: number | null;
  heapKb: number | null;
  /**
   * when the smaps_rollup behind pssKb/ussKb, and the full map behind heapKb, were read: those
   * tiers are read less often than the counters, so usually before takenAtMs
   */
  rollupAtMs: number | null;
  heapAtMs: number | null;
};

export type HistoryInput = {
  host: string;
  pid: number;
  startTicks?: number | undefined;
  fromMs: number;
  toMs: number;
  metric: Metric;
};

export type HistoryResult = {
  host: string;
  pid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  metric: Metric;
  points: { tMs: number; kb: number }[];
  trend: {
    /** the fitted floor line: kb = interceptKb + slopeKbPerHour · hours since the first point */
    interceptKb: number;
    slopeKbPerHour: number;
    pctPerHour: number;
    confidence: number;
    leak: boolean;
    reason: string;
    timeToLimitHours: number | null;
    /** what the time to limit is measured against: MemTotal, or the cgroup limit when lower */
    limitKb: number | null;
    /** for a leak whose floor was level before: when its growth began (`growthOnset`) */
    onset: GrowthOnset | null;
  };
};

export type MapChange = {
  kind: 'appeared' | 'disappeared' | 'grew' | 'shrank' | 'changed';
  start: string;
  end: string;
  perms: string;
  path: string;
  rssBeforeKb: number;
  rssAfterKb: number;
  rssDeltaKb: number;
  sizeBeforeKb: number;
  sizeAfterKb: number;
  sizeDeltaKb: number;
};

export type DiffInput = {
  host: string;
  pid: number;
  fromMs?: number | undefined;
  toMs?: number | undefined;
};

export type DiffResult = {
  host: string;
  pid: number;
  startTicks: number;
  fromMs: number;
  toMs: number;
  rssBeforeKb: number;
  rssAfterKb: number;
  changes: MapChange[];
};

export type StoredMap = {
  host: string;
  pid: number;
  startTicks: number;
  takenAtMs: number;
  comm: string;
  cmdline: string;
  mappings: Mapping[];
};

/** A process not judged leaking, as much of it as a fleet report needs. */
export type QuietRow = Pick<TopRow, 'host' | 'comm' | 'exe' | 'slopeKbPerHour' | 'pctPerHour'> & {
  leak: false;
};

/** A whole window for a fleet report: every leak in full, the quiet majority as points. */
export type FleetWindow = { asOfMs: number; leaks: TopRow[]; quiet: QuietRow[] };

export type FleetInput = Omit<TopInput, 'limit' | 'all'> & {
  /**
   * The window ends at `toMs` itself (a scheduled report's slot): stored verdicts are read only
   * when their run ends within a minute of it, else the window is scored live, and `asOfMs` is
   * `toMs` either way. Without it, as `top`: any fresh run, and `asOfMs` is its end.
   */
  exactEnd?: boolean | undefined;
};

/**
 * The read side of the fleet: every query the `reader` role may run, and `fleet`, the whole
 * window a fleet report is built from.
 */
export type QueryServices = {
  top(input: TopInput): Promise<TopRow[]>;
  fleet(input: FleetInput): Promise<FleetWindow>;
  pivot(input: PivotInput): Promise<GroupPivot[]>;
  ps(input: PsInput): Promise<PsRow[]>;
  history(input: HistoryInput): Promise<HistoryResult>;
  diff(input: DiffInput): Promise<DiffResult>;
  at(input: { host: string; pid: number; atMs: number }): Promise<StoredMap>;
};

function groupKey(r: Pick<TopRow, 'exe' | 'comm' | 'cgroup'>, by: GroupBy): string {
  if (by === 'exe') return exeGroup(r);
  if (by === 'cgroup') return r.cgroup ?? '-';
  return r.comm;
}

function quietRow(
  r: Pick<TopRow, 'host' | 'comm' | 'exe' | 'slopeKbPerHour' | 'pctPerHour'>,
): QuietRow {
  return {
    host: r.host,
    comm: r.comm,
    exe: r.exe,
    slopeKbPerHour: r.slopeKbPerHour,
    pctPerHour: r.pctPerHour,
    leak: false,
  };
}

/**
 * The NOT_FOUND to give when a process's data is missing: a host name the server has never
 * heard from (a typo, an agent not yet pushing) is named as such, not blamed on the window.
 */
async function notFound(db: Db, host: string, what: string): Promise<ApiError> {
  const known = (await listHosts(db)).some((h) => h.name === host);
  return new ApiError(
    'NOT_FOUND',
    known ? what : `no host named ${host} has reported to this server (fleetpmap hosts lists them)`,
  );
}

function sumKb(m: Mapping | undefined, field: string): number {
  return m?.kb[field] ?? 0;
}

const SCORED_CACHE_ENTRIES = 16;

/**
 * The aggregates change only when the rollup runs, so a scored window is kept until the rollup
 * watermark moves: repeated `top` calls (a dashboard, several users, `top` then `--group-by`)
 * score the fleet once per rollup. The key is the set of buckets the window covers, not the
 * clock, so `now` moving inside one bucket still hits.
 */
function createScoredCache(db: Db) {
  const entries = new Map<string, Promise<TopRow[]>>();
  return async (input: Omit<TopInput, 'limit' | 'all'>, nowMs: number): Promise<TopRow[]> => {
    const { watermarkMs: watermark } = await rollupMarks(db);
    const toMs = input.toMs ?? nowMs;
    const widthMs = input.windowMs <= FINE_WINDOW_MAX_MS ? BUCKET_5M_MS : BUCKET_1H_MS;
    const key = JSON.stringify([
      watermark,
      input.metric,
      input.windowMs,
      Math.ceil((toMs - input.windowMs) / widthMs),
      Math.ceil(toMs / widthMs),
      input.hostGlob ?? null,
      input.labels ?? null,
      input.comm ?? null,
    ]);
    let hit = entries.get(key);
    if (!hit) {
      hit = scoreWindow(db, { ...input, toMs }, nowMs).then((rows) => rows.map((r) => r.row));
      entries.set(key, hit);
      hit.catch(() => entries.delete(key));
      while (entries.size > SCORED_CACHE_ENTRIES) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
    }
    return hit;
  };
}

/** The query services over one database (Postgres or PGlite). */
export function createQueryServices(db: Db, nowMs: () => number = Date.now): QueryServices {
  const scored = createScoredCache(db);

  /**
   * Where a window's verdicts come from: the ones the server stored after the rollup when a
   * fresh run covers this window (with the hosts the filters choose), else null: score it now.
   */
  async function storedSource(input: FleetInput) {
    const toMs = input.toMs ?? nowMs();
    const [runs, marks] = await Promise.all([listVerdictRuns(db), rollupMarks(db)]);
    const run = usableRun(runs, marks, { ...input, toMs });
    if (!run) return null;
    const filtered = input.hostGlob !== undefined || input.labels !== undefined;
    const hostIds = filtered ? chooseHosts(await listHosts(db), input).map((h) => h.id) : undefined;
    return {
      run,
      filter: {
        metric: input.metric,
        windowMs: input.windowMs,
        ...(hostIds === undefined ? {} : { hostIds }),
        ...(input.comm === undefined ? {} : { comm: input.comm }),
      },
    };
  }

  return {
    async top(input) {
      const source = await storedSource(input);
      if (!source) {
        const rows = await scored(input, nowMs());
        return (input.all ? rows : rows.filter((r) => r.leak)).slice(0, input.limit);
      }
      // Ranked, filtered and cut by the database.
      const stored = await readVerdicts(db, {
        ...source.filter,
        leakOnly: !input.all,
        limit: input.limit,
      });
      return stored.map((v) => fromStoredVerdict(v, input.metric, source.run.toMs));
    },

    async fleet(input) {
      const toMs = input.toMs ?? nowMs();
      const source = await storedSource({ ...input, toMs });
      if (!source) {
        const rows = await scored({ ...input, toMs }, nowMs());
        return {
          asOfMs: toMs,
          leaks: rows.filter((r) => r.leak),
          quiet: rows.filter((r) => !r.leak).map(quietRow),
        };
      }
      // One snapshot of the stored run: a refresh between the two reads must not mix runs.
      return db.transaction(
        async (txRaw) => {
          const tx = txRaw as unknown as Db;
          const leaks = await readVerdicts(tx, { ...source.filter, leakOnly: true });
          const points = await readVerdictPoints(tx, source.filter);
          return {
            asOfMs: input.exactEnd ? toMs : source.run.toMs,
            leaks: leaks.map((v) => fromStoredVerdict(v, input.metric, source.run.toMs)),
            quiet: points.filter((p) => !p.leak).map(quietRow),
          };
        },
        { isolationLevel: 'repeatable read', accessMode: 'read only' },
      );
    },

    async pivot(input) {
      const source = await storedSource(input);
      const rows = source
        ? await readVerdictPoints(db, source.filter)
        : await scored(input, nowMs());
      return pivotByGroup(
        rows.map((r) => ({
          host: r.host,
          group: groupKey(r, input.groupBy),
          leak: r.leak,
          slopeKbPerHour: r.slopeKbPerHour,
          pctPerHour: r.pctPerHour,
        })),
      ).slice(0, input.limit);
    },

    async ps(input) {
      const hosts = chooseHosts(await listHosts(db), input);
      if (hosts.length === 0) return [];
      const states = await latestProcesses(db, { hostNames: hosts.map((h) => h.name) });
      const memTotal = new Map(hosts.map((h) => [h.name, h.memTotalKb]));
      const rows: PsRow[] = states.map((s) => ({
        host: s.host,
        pid: s.pid,
        startTicks: s.startTicks,
        comm: s.comm,
        cmdline: s.cmdline,
        takenAtMs: s.takenAtMs,
        firstSeenMs: s.firstSeenMs,
        startedAtMs: s.startedAtMs,
        threads: s.threads,
        limitKb: limitKbOf(memTotal.get(s.host), s.memoryLimitKb),
        rssKb: s.status.vmRssKb,
        anonKb: s.status.rssAnonKb + s.status.vmSwapKb,
        swapKb: s.status.vmSwapKb,
        pssKb: s.rollup?.pssKb ?? null,
        ussKb: s.rollup ? s.rollup.privateCleanKb + s.rollup.privateDirtyKb : null,
        heapKb: s.regions ? s.regions.heap.rssKb + s.regions.heap.swapKb : null,
        rollupAtMs: s.rollup ? (s.rollupAtMs ?? null) : null,
        heapAtMs: s.regions ? (s.regionsAtMs ?? null) : null,
      }));
      const field = `${input.sort}Kb` as const;
      rows.sort(
        (a, b) =>
          (b[field] ?? -1) - (a[field] ?? -1) || a.host.localeCompare(b.host) || a.pid - b.pid,
      );
      return rows.slice(0, input.limit);
    },

    async history(input) {
      const series = await processSeries(db, {
        hostName: input.host,
        pid: input.pid,
        fromMs: input.fromMs,
        toMs: input.toMs,
        ...(input.startTicks === undefined ? {} : { startTicks: input.startTicks }),
      });
      series.sort((a, b) => (a.points.at(-1)?.takenAtMs ?? 0) - (b.points.at(-1)?.takenAtMs ?? 0));
      const s = series.at(-1);
      if (!s) {
        throw await notFound(
          db,
          input.host,
          `no samples of ${input.host}:${input.pid} in that window`,
        );
      }
      const index = METRICS.indexOf(input.metric);
      const points: { tMs: number; kb: number }[] = [];
      for (const p of s.points) {
        const kb = metricValues({ ...p, pid: s.pid, startTicks: s.startTicks })[index];
        if (kb !== undefined) points.push({ tMs: p.takenAtMs, kb });
      }
      const buckets = bucketize(
        points.map((p) => ({ tMs: p.tMs, value: p.kb })),
        FIVE_MINUTES_MS,
      );
      const hosts = await listHosts(db);
      const limitKb = limitKbOf(
        hosts.find((h) => h.name === input.host)?.memTotalKb,
        s.memoryLimitKb,
      );
      const own = { buckets, limitKb };
      const window = { windowStartMs: input.fromMs, windowEndMs: input.toMs + 1 };
      // The verdict is top's for the same window, so that history never contradicts the ranking
      // (its startup grace, a restarted service's earlier incarnations, the day before). Only a
      // process top does not list (an older incarnation, or samples the rollup has not reached
      // yet) is judged here on its own samples.
      const ranked = await scored(
        {
          metric: input.metric,
          windowMs: Math.max(1, input.toMs - input.fromMs),
          toMs: input.toMs,
          hostGlob: s.host,
        },
        nowMs(),
      );
      const row = ranked.find(
        (r) => r.host === s.host && r.pid === s.pid && r.startTicks === s.startTicks,
      );
      const verdict = row ?? { ...scoreIncarnation(own, window), limitKb };
      // When a leak began is asked of leaks only: a level series has no onset to tell.
      const floorsJudged = verdict.leak ? floorPoints(own, window) : null;
      const onset = floorsJudged
        ? growthOnset(floorsJudged.xs, floorsJudged.ys, floorsJudged.firstMs)
        : null;
      // The drawn line has the verdict's slope and runs through the floors (what the verdict
      // judges, not the peaks); for a leak that began inside the window, through those since.
      const t0 = points[0]?.tMs ?? input.fromMs;
      const since = buckets.filter((b) => onset === null || b.tStartMs >= onset.atMs);
      const slope = Number.isFinite(verdict.slopeKbPerHour) ? verdict.slopeKbPerHour : 0;
      const intercept =
        since.length > 0
          ? median(since.map((b) => b.min - (slope * (b.tStartMs - t0)) / 3_600_000))
          : (points[0]?.kb ?? 0);
      return {
        host: s.host,
        pid: s.pid,
        startTicks: s.startTicks,
        comm: s.comm,
        cmdline: s.cmdline,
        metric: input.metric,
        points,
        trend: {
          interceptKb: Number.isFinite(intercept) ? intercept : 0,
          slopeKbPerHour: slope,
          pctPerHour: verdict.pctPerHour,
          confidence: verdict.confidence,
          leak: verdict.leak,
          reason: verdict.reason,
          timeToLimitHours: verdict.timeToLimitHours,
          limitKb: verdict.limitKb,
          onset,
        },
      };
    },

    async diff(input) {
      const refs = await listFullMaps(db, {
        hostName: input.host,
        pid: input.pid,
        ...(input.fromMs === undefined ? {} : { fromMs: input.fromMs }),
        ...(input.toMs === undefined ? {} : { toMs: input.toMs }),
      });
      const last = refs.at(-1);
      if (!last) {
        throw await notFound(
          db,
          input.host,
          `no full map of ${input.host}:${input.pid} is stored there`,
        );
      }
      // Both maps must belong to one incarnation: a reused pid is another process.
      const same = refs.filter((r) => r.startTicks === last.startTicks && r.bootId === last.bootId);
      const first = same[0];
      if (!first || first === last) {
        throw new ApiError(
          'NOT_FOUND',
          `only one full map of ${input.host}:${input.pid} is stored in that window; diff needs two`,
        );
      }
      const load = async (atMs: number) => {
        const m = await getFullMap(db, {
          hostName: input.host,
          pid: input.pid,
          atMs,
          startTicks: last.startTicks,
        });
        if (!m) throw new ApiError('NOT_FOUND', `the map of ${input.host}:${input.pid} vanished`);
        return m;
      };
      const before = await load(first.takenAtMs);
      const after = await load(last.takenAtMs);
      const changes: MapChange[] = diffMappings(before.mappings, after.mappings).map((c) => {
        const m = (c.after ?? c.before) as Mapping;
        const kind: MapChange['kind'] = !c.before
          ? 'appeared'
          : !c.after
            ? 'disappeared'
            : c.rssDeltaKb > 0 || (c.rssDeltaKb === 0 && c.sizeDeltaKb > 0)
              ? 'grew'
              : c.rssDeltaKb < 0 || c.sizeDeltaKb < 0
                ? 'shrank'
                : 'changed';
        return {
          kind,
          start: m.start,
          end: m.end,
          perms: m.perms,
          path: m.path,
          rssBeforeKb: sumKb(c.before, 'Rss'),
          rssAfterKb: sumKb(c.after, 'Rss'),
          rssDeltaKb: c.rssDeltaKb,
          sizeBeforeKb: sumKb(c.before, 'Size'),
          sizeAfterKb: sumKb(c.after, 'Size'),
          sizeDeltaKb: c.sizeDeltaKb,
        };
      });
      const total = (ms: Mapping[]) => ms.reduce((n, m) => n + (m.kb.Rss ?? 0), 0);
      return {
        host: input.host,
        pid: input.pid,
        startTicks: last.startTicks,
        fromMs: before.takenAtMs,
        toMs: after.takenAtMs,
        rssBeforeKb: total(before.mappings),
        rssAfterKb: total(after.mappings),
        changes,
      };
    },

    async at(input) {
      const m = await getFullMap(db, { hostName: input.host, pid: input.pid, atMs: input.atMs });
      if (!m)
        throw await notFound(db, input.host, `no full map of ${input.host}:${input.pid} is stored`);
      return {
        host: m.host,
        pid: m.pid,
        startTicks: m.startTicks,
        takenAtMs: m.takenAtMs,
        comm: m.comm,
        cmdline: m.cmdline,
        mappings: m.mappings,
      };
    },
  };
}
