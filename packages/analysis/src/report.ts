import { byteOrder } from './order.ts';
import { exeGroup, type GroupPivot, pivotByGroup } from './pivot.ts';
import { commandText } from './units.ts';

/** Bumped when a stored report's shape changes in a way readers must know about. */
export const REPORT_FORMAT_VERSION = 1;

/** One process as the fleet ranking judged it over the report's window (`top --all`'s row). */
export interface ReportProcess {
  host: string;
  pid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  exe: string | null;
  cgroup: string | null;
  firstSeenMs: number;
  startedAtMs: number | null;
  currentKb: number;
  growthKb: number;
  slopeKbPerHour: number;
  pctPerHour: number;
  confidence: number;
  leak: boolean;
  timeToLimitHours: number | null;
  limitKb: number | null;
  incarnations: number;
  /**
   * For a leak that began inside the window after level memory: when its growth began. Absent
   * in reports stored before it was recorded.
   */
  growingSinceMs?: number | null;
}

/**
 * A process not judged leaking: the report only counts it and places it in its binary's group,
 * so a caller with a large fleet need not load whole rows for the quiet majority.
 */
export type QuietProcess = Pick<
  ReportProcess,
  'host' | 'comm' | 'exe' | 'slopeKbPerHour' | 'pctPerHour'
> & { leak: false };

/**
 * Compared with the previous report of the same schedule: `new` leaks were not in it,
 * `continuing` ones were (a restart keeps a service's identity); null when there is no previous
 * report to compare with.
 */
export type LeakStatus = 'new' | 'continuing' | null;

export type ReportLeak = ReportProcess & { status: LeakStatus };

/** A leak of the previous report that this one no longer judges leaking. */
export interface ResolvedLeak {
  host: string;
  pid: number;
  comm: string;
  cmdline: string;
  exe: string | null;
}

/** Which hosts a report covers: every host when both are null (what the schedule reports). */
export interface ReportScope {
  /** shell-style glob over host names, as `top --host` */
  hostGlob: string | null;
  /** every label must match, as `top --label` */
  labels: Record<string, string> | null;
}

export const WHOLE_FLEET: ReportScope = { hostGlob: null, labels: null };

/**
 * One string per scope, the same for the same hosts asked the same way (labels in key order):
 * a report is compared only with an earlier one of the same scope. Empty for the whole fleet.
 */
export function scopeKey(scope: ReportScope): string {
  const labels = Object.entries(scope.labels ?? {}).sort(([a], [b]) => byteOrder(a, b));
  if (scope.hostGlob === null && labels.length === 0) return '';
  return JSON.stringify([scope.hostGlob, labels]);
}

/** The scope a `scopeKey` was made from; the whole fleet for an empty or unreadable key. */
export function scopeOfKey(key: string): ReportScope {
  if (key === '') return WHOLE_FLEET;
  try {
    const [hostGlob, labels] = JSON.parse(key) as [string | null, [string, string][]];
    return {
      hostGlob: typeof hostGlob === 'string' ? hostGlob : null,
      labels: Array.isArray(labels) && labels.length > 0 ? Object.fromEntries(labels) : null,
    };
  } catch {
    return WHOLE_FLEET;
  }
}

/** The scope as people read it: `hosts web-*, labels env=prod`; null for the whole fleet. */
export function describeScope(scope: ReportScope): string | null {
  const parts: string[] = [];
  if (scope.hostGlob !== null) parts.push(`hosts ${scope.hostGlob}`);
  const labels = Object.entries(scope.labels ?? {});
  if (labels.length > 0) parts.push(`labels ${labels.map(([k, v]) => `${k}=${v}`).join(',')}`);
  return parts.length === 0 ? null : parts.join(', ');
}

export interface LeakReport {
  version: typeof REPORT_FORMAT_VERSION;
  generatedAtMs: number;
  scope: ReportScope;
  /** the window judged: [toMs − ms, toMs) */
  window: { fromMs: number; toMs: number; ms: number };
  metric: string;
  fleet: {
    hosts: number;
    processes: number;
    leakingHosts: number;
    leakingProcesses: number;
    /** the leaking processes' slopes summed: how fast the fleet loses memory to leaks */
    leakingKbPerHour: number;
  };
  /** the leaking processes, the soonest to reach their limit first (see `orderLeaks`) */
  leaks: ReportLeak[];
  /** leaking processes beyond `leaks`' cap, counted but not listed */
  leaksOmitted: number;
  /** per binary (exe, else `[comm]`), only groups with at least one leak, as `top --group-by exe` */
  groups: GroupPivot[];
  groupsOmitted: number;
  /** null for the first report of a schedule */
  changes: {
    previousId: string;
    previousGeneratedAtMs: number;
    newLeaks: number;
    continuingLeaks: number;
    resolved: ResolvedLeak[];
    resolvedOmitted: number;
  } | null;
}

/** What a report remembers of its predecessor to say what is new and what went away. */
export interface PreviousReport {
  id: string;
  generatedAtMs: number;
  leaks: readonly Pick<ReportLeak, 'host' | 'pid' | 'comm' | 'cmdline' | 'exe'>[];
}

export interface ReportOptions {
  generatedAtMs: number;
  windowMs: number;
  toMs: number;
  metric: string;
  /** the hosts the processes were chosen from; the whole fleet when omitted */
  scope?: ReportScope;
  /** caps that keep a report of a huge fleet readable and its stored body bounded */
  maxLeaks?: number;
  maxGroups?: number;
  previous?: PreviousReport | null;
}

export const DEFAULT_MAX_REPORT_LEAKS = 500;
export const DEFAULT_MAX_REPORT_GROUPS = 100;

/**
 * A leak's identity across reports: host, binary and command line. The pid is left out on
 * purpose: a service restarted between two reports is the same leak, not a new one plus a
 * resolved one.
 */
export function leakIdentity(p: Pick<ReportProcess, 'host' | 'comm' | 'cmdline' | 'exe'>): string {
  return [p.host, p.exe ?? p.comm, commandText(p)].join('\u0000');
}

/**
 * Most urgent first: the soonest to reach its limit, then the fastest in KiB/h (a leak with no
 * known limit after every one that has one), then host and pid so equal leaks keep one order.
 */
export function orderLeaks<T extends ReportProcess>(leaks: readonly T[]): T[] {
  return [...leaks].sort(
    (a, b) =>
      (a.timeToLimitHours ?? Number.POSITIVE_INFINITY) -
        (b.timeToLimitHours ?? Number.POSITIVE_INFINITY) ||
      b.slopeKbPerHour - a.slopeKbPerHour ||
      byteOrder(a.host, b.host) ||
      a.pid - b.pid,
  );
}

/**
 * The fleet leak report over one window: the totals, every leaking process (most urgent first),
 * the binaries that leak and on how many hosts, and what changed since the previous report.
 * `processes` is the whole ranking (leaking or not), so the totals count the quiet ones too.
 */
export function buildLeakReport(
  processes: readonly (ReportProcess | QuietProcess)[],
  opts: ReportOptions,
): LeakReport {
  const maxLeaks = opts.maxLeaks ?? DEFAULT_MAX_REPORT_LEAKS;
  const maxGroups = opts.maxGroups ?? DEFAULT_MAX_REPORT_GROUPS;
  const leaking = orderLeaks(processes.filter((p): p is ReportProcess => p.leak));
  const previous = opts.previous ?? null;
  const before = new Set(previous?.leaks.map(leakIdentity));
  const now = new Set(leaking.map(leakIdentity));
  const leaks: ReportLeak[] = leaking.map((p) => ({
    ...pick(p),
    status: previous === null ? null : before.has(leakIdentity(p)) ? 'continuing' : 'new',
  }));
  const groups = pivotByGroup(
    processes.map((p) => ({
      host: p.host,
      group: exeGroup(p),
      leak: p.leak,
      slopeKbPerHour: p.slopeKbPerHour,
      pctPerHour: p.pctPerHour,
    })),
  ).filter((g) => g.leakingProcesses > 0);
  const resolved: ResolvedLeak[] = [];
  const seen = new Set<string>();
  for (const p of previous?.leaks ?? []) {
    const id = leakIdentity(p);
    if (now.has(id) || seen.has(id)) continue;
    seen.add(id);
    resolved.push({ host: p.host, pid: p.pid, comm: p.comm, cmdline: p.cmdline, exe: p.exe });
  }
  return {
    version: REPORT_FORMAT_VERSION,
    generatedAtMs: opts.generatedAtMs,
    scope: opts.scope ?? WHOLE_FLEET,
    window: { fromMs: opts.toMs - opts.windowMs, toMs: opts.toMs, ms: opts.windowMs },
    metric: opts.metric,
    fleet: {
      hosts: new Set(processes.map((p) => p.host)).size,
      processes: processes.length,
      leakingHosts: new Set(leaking.map((p) => p.host)).size,
      leakingProcesses: leaking.length,
      leakingKbPerHour: leaking.reduce((sum, p) => sum + Math.max(0, p.slopeKbPerHour), 0),
    },
    leaks: leaks.slice(0, maxLeaks),
    leaksOmitted: Math.max(0, leaks.length - maxLeaks),
    groups: groups.slice(0, maxGroups),
    groupsOmitted: Math.max(0, groups.length - maxGroups),
    changes:
      previous === null
        ? null
        : {
            previousId: previous.id,
            previousGeneratedAtMs: previous.generatedAtMs,
            newLeaks: leaks.filter((l) => l.status === 'new').length,
            continuingLeaks: leaks.filter((l) => l.status === 'continuing').length,
            resolved: resolved.slice(0, maxLeaks),
            resolvedOmitted: Math.max(0, resolved.length - maxLeaks),
          },
  };
}

/** Only the report's own fields: rows from the ranking carry more (reason, metric, …). */
function pick(p: ReportProcess): ReportProcess {
  return {
    host: p.host,
    pid: p.pid,
    startTicks: p.startTicks,
    comm: p.comm,
    cmdline: p.cmdline,
    exe: p.exe,
    cgroup: p.cgroup,
    firstSeenMs: p.firstSeenMs,
    startedAtMs: p.startedAtMs,
    currentKb: p.currentKb,
    growthKb: p.growthKb,
    slopeKbPerHour: p.slopeKbPerHour,
    pctPerHour: p.pctPerHour,
    confidence: p.confidence,
    leak: p.leak,
    timeToLimitHours: p.timeToLimitHours,
    limitKb: p.limitKb,
    incarnations: p.incarnations,
    growingSinceMs: p.growingSinceMs ?? null,
  };
}
