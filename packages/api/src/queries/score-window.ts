import {
  byteOrder,
  comparesDayBefore,
  DAY_BEFORE_READ_MS,
  DAY_BEFORE_SHIFT_MS,
  EARLIER_MIN_LIFE_MS,
  judgedOnFineBuckets,
  type MetricBucket,
  pooledOnFineBuckets,
  SERVICE_LOOKBACK_MS,
  scoreService,
  wantsEarlierIncarnations,
  YOUNG_SERVICE_MS,
} from '@fleetpmap/analysis';
import {
  type AggregateBucket,
  type Db,
  type HostSummary as DbHost,
  FINE_WINDOW_MAX_MS,
  type IncarnationInfo,
  incarnationKey,
  incarnationsLastSeenBetween,
  KEYFRAME_INTERVAL_MS,
  listHosts,
  type Metric,
  type ProcessAggregateSeries,
  processAggregates,
} from '@fleetpmap/db';
import {
  compileHostGlob,
  HostGlobError,
  type HostGlobMatcher,
} from '@fleetpmap/protocol/host-glob';
import { ApiError } from '../errors.ts';
import type { HostFilter, TopInput, TopRow } from './query-services.ts';

export function chooseHosts(all: DbHost[], filter: HostFilter): DbHost[] {
  const glob = filter.hostGlob === undefined ? undefined : hostGlob(filter.hostGlob);
  return all.filter(
    (h) =>
      (glob === undefined || glob(h.name)) &&
      Object.entries(filter.labels ?? {}).every(([k, v]) => h.labels[k] === v),
  );
}

/** The glob parsed once for every host; the API's input schema has refused malformed ones. */
function hostGlob(glob: string): HostGlobMatcher {
  try {
    return compileHostGlob(glob);
  } catch (error) {
    if (error instanceof HostGlobError)
      throw new ApiError('INVALID_INPUT', `host glob: ${error.message}`);
    throw error;
  }
}

function toMetricBuckets(buckets: readonly AggregateBucket[], metric: Metric): MetricBucket[] {
  const out: MetricBucket[] = [];
  for (const b of buckets) {
    const a = b.metrics[metric];
    if (!a || a.n === 0) continue;
    out.push({
      tStartMs: b.startMs,
      tEndMs: b.startMs + b.widthMs,
      n: a.n,
      min: a.minKb,
      max: a.maxKb,
      last: a.lastKb,
      lastAtMs: b.startMs + a.lastSec * 1000,
      sum: a.sumKb,
      sumDt: a.sumSec,
      sumDt2: a.sumSecSq,
      sumDtY: a.sumSecKb,
    });
  }
  return out;
}

/**
 * What "time to limit" is measured against: the host's MemTotal, or the process's cgroup memory
 * limit when it has one and it is lower (the kernel OOM-kills the cgroup there, long before the
 * host runs out). Null when neither is known.
 */
export function limitKbOf(
  memTotalKb: number | null | undefined,
  memoryLimitKb: number | null | undefined,
): number | null {
  const host = memTotalKb != null && memTotalKb > 0 ? memTotalKb : null;
  if (memoryLimitKb == null) return host;
  return host === null ? memoryLimitKb : Math.min(host, memoryLimitKb);
}

/**
 * Without a stored start time (an agent that sends no boot time), a process first seen well after
 * its host started reporting started about then, so its startup is not judged; one seen from the
 * host's first snapshot on has an unknown start.
 */
const STARTED_SLACK_MS = 10 * 60_000;

/** What a restart keeps: the command a chain of incarnations runs, on its host. */
type CommandOf = { hostId: number; exe: string | null; comm: string; cmdline: string };
const commandKey = (s: CommandOf) => `${s.hostId}\0${s.exe ?? s.comm}\0${s.cmdline}`;

/** An incarnation's identity across hosts. */
const fleetKey = (s: { hostId: number; bootId: string; pid: number; startTicks: number }) =>
  `${s.hostId}/${incarnationKey(s)}`;

/**
 * Day-before reads kept for the length of one refresh pass: every window of up to a day ending at
 * the same time reads the same hours a day earlier. Keyed by the metric, the hours, the hosts and
 * the rollup watermark, so data rolled up in between is read again.
 */
export type DayBeforeReads = Map<string, Promise<Map<string, MetricBucket[]>>>;

/**
 * Scores every process of the chosen hosts over one window from the aggregates: the work behind
 * `top` and `top --group-by`, done live for any window and ahead of time for the standard ones.
 */
export async function scoreWindow(
  db: Db,
  input: Omit<TopInput, 'limit' | 'all'>,
  nowMs: number,
  shared?: { dayBefore: DayBeforeReads; watermarkMs: number },
): Promise<ScoredRow[]> {
  const toMs = input.toMs ?? nowMs;
  const fromMs = toMs - input.windowMs;
  const hosts = chooseHosts(await listHosts(db), input);
  if (hosts.length === 0) return [];
  const hostByName = new Map(hosts.map((h) => [h.name, h]));
  const series = await processAggregates(db, {
    fromMs,
    toMs,
    hostNames: hosts.map((h) => h.name),
    metrics: [input.metric],
  });
  // A window of up to a day is also compared with the same hours of the day before (analysis:
  // the day-over-day check), read at 5-minute resolution, per incarnation.
  const dayBefore = comparesDayBefore(input.windowMs)
    ? await readDayBefore(db, input.metric, toMs, hosts, shared)
    : new Map<string, MetricBucket[]>();
  // A restarted service is a new incarnation of the same command: its incarnations are judged
  // together, so growth cut short by restarts still counts. Processes of one command that run at
  // the same time (workers) are not incarnations of each other: each chain holds incarnations
  // whose lifetimes follow one another.
  const commands = new Map<string, typeof series>();
  for (const s of series) {
    if (input.comm !== undefined && s.comm !== input.comm) continue;
    const k = commandKey(s);
    const g = commands.get(k);
    if (g) g.push(s);
    else commands.set(k, [s]);
  }
  const chainsByCommand = new Map<string, (typeof series)[]>();
  for (const [key, group] of commands) {
    group.sort((a, b) => a.firstSeenMs - b.firstSeenMs || a.lastSeenMs - b.lastSeenMs);
    const chains: (typeof series)[] = [];
    for (const s of group) {
      let best: typeof series | undefined;
      for (const c of chains) {
        const tail = c[c.length - 1];
        if (tail && tail.lastSeenMs <= s.firstSeenMs) {
          if (!best || (best[best.length - 1]?.lastSeenMs ?? 0) < tail.lastSeenMs) best = c;
        }
      }
      if (best) best.push(s);
      else chains.push([s]);
    }
    chainsByCommand.set(key, chains);
  }
  const services = [...chainsByCommand.values()].flat();
  const young =
    input.windowMs > FINE_WINDOW_MAX_MS
      ? await judgeYoungOnFineBuckets(db, services, hosts, input.metric, { fromMs, toMs })
      : new Set<ProcessAggregateSeries[]>();
  const lookbackFromMs = toMs - SERVICE_LOOKBACK_MS;
  const restarted = restartedChains(chainsByCommand, input.windowMs);
  const earlier = await readEarlierIncarnations(db, chainsByCommand, restarted, hosts, input, {
    lookbackFromMs,
    fromMs,
  });
  const pooledFine = await readPooledFineBuckets(db, restarted, young, hosts, input, {
    fromMs,
    toMs,
  });
  const rows: ScoredRow[] = [];
  for (const members of services) {
    members.sort((a, b) => a.lastSeenMs - b.lastSeenMs);
    const newest = members[members.length - 1];
    if (!newest) continue;
    const host = hostByName.get(newest.host);
    const hostFirstSeen = host?.firstSeenMs ?? 0;
    const incarnationInput = (m: ProcessAggregateSeries) => ({
      buckets: toMetricBuckets(m.buckets, input.metric),
      startedAtMs:
        m.startedAtMs ?? (m.firstSeenMs > hostFirstSeen + STARTED_SLACK_MS ? m.firstSeenMs : null),
      limitKb: limitKbOf(m.memTotalKb, m.memoryLimitKb),
    });
    const verdict = scoreService(
      members.map((m) => ({
        ...incarnationInput(m),
        dayBefore: dayBefore.get(fleetKey(m)) ?? [],
        pooledBuckets: pooledFine.get(fleetKey(m)),
      })),
      { windowStartMs: fromMs, windowEndMs: toMs },
      { fromMs: lookbackFromMs, incarnations: (earlier.get(members) ?? []).map(incarnationInput) },
    );
    const score = verdict.shown;
    if (!score) continue;
    rows.push({
      hostId: newest.hostId,
      bootId: newest.bootId,
      row: {
        host: newest.host,
        pid: newest.pid,
        startTicks: newest.startTicks,
        comm: newest.comm,
        cmdline: newest.cmdline,
        exe: newest.exe,
        cgroup: newest.cgroup,
        metric: input.metric,
        firstSeenMs: newest.firstSeenMs,
        lastSeenMs: newest.lastSeenMs,
        startedAtMs: newest.startedAtMs,
        currentKb: score.currentKb,
        growthKb: score.growthKb,
        slopeKbPerHour: score.slopeKbPerHour,
        pctPerHour: score.pctPerHour,
        confidence: score.confidence,
        leak: verdict.leak,
        timeToLimitHours: verdict.leak || score.leak ? score.timeToLimitHours : null,
        limitKb: score.limitKb,
        reason: verdict.leak ? verdict.reason : score.reason,
        growingSinceMs: verdict.leak ? score.growingSinceMs : null,
        incarnations: members.length,
        asOfMs: toMs,
      },
    });
  }
  return rows.sort((a, b) => compareTopRows(a.row, b.row));
}

/**
 * A service whose incarnations in the window were all first seen in its last 12 hours (analysis:
 * `judgedOnFineBuckets`; a new service, or one on a host whose agent just started) is judged on
 * its 5-minute buckets whatever the window, as `top --window 6h` judges it. Hourly buckets would
 * give a new process six floors only after six hours, and a service restarted every few hours
 * three or four per incarnation, too few for a verdict: a leak flagged in its first hours would go
 * unflagged by the daily and weekly windows, or be lost again once the service's history passed
 * six hours. A service with history before that keeps the window's resolution: its incarnations
 * are judged together, and a short one judged finely on a daily cycle's downswing would decide
 * for the others. Returns the young services.
 */
async function judgeYoungOnFineBuckets(
  db: Db,
  services: readonly ProcessAggregateSeries[][],
  hosts: readonly DbHost[],
  metric: Metric,
  window: { fromMs: number; toMs: number },
): Promise<Set<ProcessAggregateSeries[]>> {
  const youngServices = new Set<ProcessAggregateSeries[]>();
  const young = new Map<string, ProcessAggregateSeries>();
  for (const members of services) {
    const firstSeen = members.map((m) => m.firstSeenMs);
    if (judgedOnFineBuckets(firstSeen, window.fromMs, window.toMs)) {
      youngServices.add(members);
      for (const m of members) young.set(fleetKey(m), m);
    }
  }
  if (young.size === 0) return youngServices;
  // Only the hosts that have a young service are read again: a refresh pass could take these
  // hours from a shorter window's read, but would hold a fleet's worth of 5-minute buckets
  // through the longer windows' scoring to save a read that churn alone makes large.
  const recent = await readFineBucketsOf(
    db,
    hosts,
    metric,
    { fromMs: Math.max(window.fromMs, window.toMs - YOUNG_SERVICE_MS), toMs: window.toMs },
    [...young.values()],
  );
  for (const s of recent) {
    const target = young.get(fleetKey(s));
    if (target) target.buckets = s.buckets;
  }
  return youngServices;
}

/** A command restarted within the window, as one chain of incarnations. */
interface RestartedChain {
  chain: ProcessAggregateSeries[];
  /** Its members with buckets in the window; those listed without any ended before it. */
  inWindow: ProcessAggregateSeries[];
  /** The first sighting of the first of them. */
  startMs: number;
}

/**
 * The commands restarted within a window under a day (analysis: `wantsEarlierIncarnations`), by
 * `commandKey`. A command with several chains in the window (workers running side by side) is
 * not among them: which chain an earlier incarnation belonged to cannot be told.
 */
function restartedChains(
  chainsByCommand: ReadonlyMap<string, ProcessAggregateSeries[][]>,
  windowMs: number,
): Map<string, RestartedChain> {
  const restarted = new Map<string, RestartedChain>();
  for (const [key, chains] of chainsByCommand) {
    const only = chains[0];
    const inWindow = only?.filter((m) => m.buckets.length > 0) ?? [];
    if (chains.length === 1 && only && wantsEarlierIncarnations(windowMs, inWindow.length)) {
      const startMs = Math.min(...inWindow.map((m) => m.firstSeenMs));
      restarted.set(key, { chain: only, inWindow, startMs });
    }
  }
  return restarted;
}

/**
 * For a service restarted within a window under a day (`restartedChains`), its
 * incarnations that ended in the day before the window's end, before the window: the pooled test
 * takes them in, since two or three incarnations of a service restarted every few hours are too
 * few to reach its level on a plain leak. The incarnations' metadata decides which hosts'
 * 5-minute buckets are read: only those where such a service had an earlier incarnation of some
 * length (a one-off restart, a deploy, costs no read), and of those only these incarnations'
 * buckets are kept.
 */
async function readEarlierIncarnations(
  db: Db,
  chainsByCommand: ReadonlyMap<string, ProcessAggregateSeries[][]>,
  restarted: ReadonlyMap<string, RestartedChain>,
  hosts: readonly DbHost[],
  input: { metric: Metric },
  span: { lookbackFromMs: number; fromMs: number },
): Promise<Map<ProcessAggregateSeries[], ProcessAggregateSeries[]>> {
  const out = new Map<ProcessAggregateSeries[], ProcessAggregateSeries[]>();
  if (restarted.size === 0) return out;
  const inWindow = new Set(
    [...chainsByCommand.values()]
      .flat(2)
      .filter((m) => m.buckets.length > 0)
      .map(fleetKey),
  );
  // The chain an incarnation that ended before the window belongs to, told alike from its
  // metadata (to decide the read) and from its aggregates (to place what was read).
  const belongs = (s: Omit<IncarnationInfo, 'ppid' | 'uid'>) => {
    const r = restarted.get(commandKey(s));
    return r && !inWindow.has(fleetKey(s)) && s.lastSeenMs <= r.startMs ? r.chain : null;
  };
  const known = await incarnationsLastSeenBetween(
    db,
    [...new Set([...restarted.values()].map((r) => r.chain[0]?.hostId ?? -1))],
    span.lookbackFromMs - KEYFRAME_INTERVAL_MS,
    span.fromMs,
  );
  // Its life as its stored sightings show it.
  const wanted = known.filter(
    (m) => m.lastSeenMs - m.firstSeenMs >= EARLIER_MIN_LIFE_MS && belongs(m),
  );
  if (wanted.length === 0) return out;
  const before = await readFineBucketsOf(
    db,
    hosts,
    input.metric,
    { fromMs: span.lookbackFromMs, toMs: span.fromMs },
    wanted,
  );
  for (const s of before) {
    const chain = belongs(s);
    if (!chain || s.buckets.length === 0) continue;
    const list = out.get(chain);
    if (list) list.push(s);
    else out.set(chain, [s]);
  }
  return out;
}

/**
 * For a service restarted within a window served hourly (`restartedChains`, analysis:
 * `pooledOnFineBuckets`), its incarnations' 5-minute buckets in the
 * window, by `fleetKey`: the pooled test reads every incarnation at one resolution. Only the
 * hosts with such a service are read, and of them only these incarnations' buckets are kept. A
 * young service is already judged on its 5-minute buckets (`judgeYoungOnFineBuckets`).
 */
async function readPooledFineBuckets(
  db: Db,
  restarted: ReadonlyMap<string, RestartedChain>,
  young: ReadonlySet<ProcessAggregateSeries[]>,
  hosts: readonly DbHost[],
  input: { windowMs: number; metric: Metric },
  window: { fromMs: number; toMs: number },
): Promise<Map<string, MetricBucket[]>> {
  const out = new Map<string, MetricBucket[]>();
  if (input.windowMs <= FINE_WINDOW_MAX_MS) return out;
  const wanted = [...restarted.values()]
    .filter((r) => pooledOnFineBuckets(input.windowMs, !young.has(r.chain), r.inWindow.length))
    .flatMap((r) => r.inWindow);
  if (wanted.length === 0) return out;
  const fine = await readFineBucketsOf(db, hosts, input.metric, window, wanted);
  for (const s of fine) out.set(fleetKey(s), toMetricBuckets(s.buckets, input.metric));
  return out;
}

/**
 * The 5-minute buckets over [fromMs, toMs) of these incarnations: only their hosts are read, and
 * of those hosts' rows only these incarnations' buckets are kept.
 */
function readFineBucketsOf(
  db: Db,
  hosts: readonly DbHost[],
  metric: Metric,
  span: { fromMs: number; toMs: number },
  incarnations: readonly Parameters<typeof fleetKey>[0][],
): Promise<ProcessAggregateSeries[]> {
  const hostIds = new Set(incarnations.map((m) => m.hostId));
  return processAggregates(db, {
    ...span,
    resolution: '5m',
    hostNames: hosts.filter((h) => hostIds.has(h.id)).map((h) => h.name),
    metrics: [metric],
    only: new Set(incarnations.map(fleetKey)),
  });
}

/** Each incarnation's buckets from the hours before `toMs` one day earlier, by `fleetKey`. */
function readDayBefore(
  db: Db,
  metric: Metric,
  toMs: number,
  hosts: readonly DbHost[],
  shared: { dayBefore: DayBeforeReads; watermarkMs: number } | undefined,
): Promise<Map<string, MetricBucket[]>> {
  const fromMs = toMs - DAY_BEFORE_SHIFT_MS - DAY_BEFORE_READ_MS;
  const read = async () => {
    const earlier = await processAggregates(db, {
      fromMs,
      toMs: toMs - DAY_BEFORE_SHIFT_MS,
      resolution: '5m',
      hostNames: hosts.map((h) => h.name),
      metrics: [metric],
    });
    return new Map(earlier.map((e) => [fleetKey(e), toMetricBuckets(e.buckets, metric)]));
  };
  if (!shared) return read();
  const key = JSON.stringify([metric, fromMs, shared.watermarkMs, hosts.map((h) => h.id)]);
  let hit = shared.dayBefore.get(key);
  if (!hit) {
    hit = read();
    shared.dayBefore.set(key, hit);
    // A failed read is not kept: the next window reads again.
    hit.catch(() => shared.dayBefore.delete(key));
  }
  return hit;
}

/** A verdict with the keys storage needs beside what `top` shows. */
export interface ScoredRow {
  hostId: number;
  bootId: string;
  row: TopRow;
}

/**
 * `top`'s order: the leaking first, fastest first, then the largest (so that `--all` on a quiet
 * fleet lists the big processes before kernel threads of size 0), then host and pid. Host names
 * compare by code point, as the stored ranking's `collate "C"` does, so both paths list ties alike.
 */
export function compareTopRows(a: TopRow, b: TopRow): number {
  return (
    Number(b.leak) - Number(a.leak) ||
    b.slopeKbPerHour - a.slopeKbPerHour ||
    b.currentKb - a.currentKb ||
    byteOrder(a.host, b.host) ||
    a.pid - b.pid
  );
}
