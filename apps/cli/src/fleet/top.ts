import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { parseDurationMs } from './at-time.ts';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { type HostFilters, noHostMatches } from './empty.ts';
import { FleetCommandError } from './errors.ts';
import { table } from './format.ts';
import {
  output,
  parseConnectionOptions,
  withConnectionOptions,
  withHostOptions,
} from './options.ts';
import {
  commandText,
  csv,
  formatDuration,
  formatKb,
  formatUptime,
  shorten,
  uptimeMs,
} from './top-render.ts';

type Outputs = inferRouterOutputs<AppRouter>['process'];
export type TopRow = Outputs['top'][number];
export type PivotRow = Outputs['pivot'][number];

export const METRIC_NAMES = ['anon', 'heap', 'rss', 'pss', 'uss', 'swap'] as const;

const topOptionsSchema = z.object({
  window: z.string().default('6h'),
  metric: z.enum(METRIC_NAMES).default('anon'),
  host: z.string().min(1).optional(),
  label: z.array(z.string()).default([]),
  comm: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(20),
  all: z.boolean().default(false),
  groupBy: z.enum(['exe', 'comm', 'cgroup']).optional(),
  csv: z.boolean().default(false),
});

export type TopOptions = z.infer<typeof topOptionsSchema>;

/** `k=v` pairs into an object; the key must not be empty. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new FleetCommandError(`--label "${p}": expected KEY=VALUE`);
    const key = p.slice(0, eq);
    const value = p.slice(eq + 1);
    // A host has one value per key: two values could never both match.
    if (key in out && out[key] !== value) {
      throw new FleetCommandError(
        `--label ${key} given twice (${out[key]}, ${value}): a host has one value per key`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** The host filters of a command's options, for explaining an empty answer. */
export function filtersOf(opts: {
  host?: string | undefined;
  label: readonly string[];
}): HostFilters {
  return { host: opts.host, labels: parseLabels(opts.label) };
}

function queryOf(opts: TopOptions) {
  const labels = parseLabels(opts.label);
  return {
    windowMs: parseDurationMs(opts.window, '--window'),
    metric: opts.metric,
    limit: opts.limit,
    ...(opts.host === undefined ? {} : { hostGlob: opts.host }),
    ...(opts.comm === undefined ? {} : { comm: opts.comm }),
    ...(Object.keys(labels).length === 0 ? {} : { labels }),
  };
}

export function topProcesses(connection: Connection, opts: TopOptions): Promise<TopRow[]> {
  return call(connection, (c) => c.process.top.query({ ...queryOf(opts), all: opts.all }));
}

export function topGroups(
  connection: Connection,
  opts: TopOptions & { groupBy: 'exe' | 'comm' | 'cgroup' },
): Promise<PivotRow[]> {
  return call(connection, (c) =>
    c.process.pivot.query({ ...queryOf(opts), groupBy: opts.groupBy }),
  );
}

const TOP_HEAD = [
  'HOST',
  'PID',
  'COMMAND',
  'UPTIME',
  'SIZE',
  'GROWTH',
  'KIB/H',
  '%/H',
  'CONFIDENCE',
  'TO LIMIT',
  'VERDICT',
];

function topCells(r: TopRow, forCsv: boolean): string[] {
  const command = commandText(r);
  return [
    r.host,
    String(r.pid),
    forCsv ? command : shorten(command),
    // As of its last sighting: a process that exited inside the window ran that long, not
    // until now.
    ...(forCsv
      ? [String(uptimeMs(r.lastSeenMs, r.startedAtMs, r.firstSeenMs)), String(r.startedAtMs ?? '')]
      : [formatUptime(r.lastSeenMs, r.startedAtMs, r.firstSeenMs)]),
    forCsv ? String(r.currentKb) : formatKb(r.currentKb),
    forCsv ? String(r.growthKb) : formatKb(r.growthKb),
    forCsv ? r.slopeKbPerHour.toFixed(1) : Math.round(r.slopeKbPerHour).toString(),
    r.pctPerHour.toFixed(2),
    r.confidence.toFixed(2),
    r.timeToLimitHours === null
      ? '-'
      : forCsv
        ? r.timeToLimitHours.toFixed(1)
        : formatDuration(r.timeToLimitHours * 3_600_000),
    ...(forCsv ? [String(r.limitKb ?? '')] : []),
    r.leak
      ? forCsv || r.growingSinceMs === null
        ? 'LEAK'
        : `LEAK since ${isoMinute(r.growingSinceMs)}`
      : r.reason,
    ...(forCsv ? [String(r.growingSinceMs ?? '')] : []),
  ];
}

/** `2026-11-23T14:20Z`: when a leak began, to the minute the floors can tell. */
function isoMinute(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16)}Z`;
}

/** Metrics only the deeper tiers measure: an empty --all may just mean none were read. */
const DEEP_METRICS: Partial<Record<string, string>> = {
  pss: 'smaps_rollup',
  uss: 'smaps_rollup',
  heap: 'full maps',
};

export function renderTop(rows: TopRow[], all = false, metric = 'anon'): string {
  if (rows.length === 0) {
    if (!all) return 'no process is judged leaking in this window (--all lists every one)\n';
    const source = DEEP_METRICS[metric];
    // With --all an empty answer means no aggregates cover the window: a new server rolls up
    // the first pushes after a minute or so, and the deeper tiers are read every few minutes.
    return source === undefined
      ? 'no process has data in this window yet (samples are aggregated a minute or so after they arrive)\n'
      : `no process has ${metric} data in this window: ${metric} comes from ${source}, which the agents read less often than the counters (every 5 and 15 minutes by default; docs/agent.md)\n`;
  }
  return table(
    TOP_HEAD,
    rows.map((r) => topCells(r, false)),
  );
}

export function topCsv(rows: TopRow[]): string {
  // CSV has no room for a `>`: STARTED_AT_MS is empty when UPTIME_MS is only a lower bound.
  // LIMIT_KB is what TO_LIMIT_H runs to: MemTotal, or the cgroup memory limit when lower.
  const head = TOP_HEAD.flatMap((h) =>
    h === 'UPTIME'
      ? ['UPTIME_MS', 'STARTED_AT_MS']
      : h === 'TO LIMIT'
        ? ['TO_LIMIT_H', 'LIMIT_KB']
        : h === 'VERDICT'
          ? ['VERDICT', 'GROWING_SINCE_MS']
          : [h],
  );
  return csv(
    head,
    rows.map((r) => topCells(r, true)),
  );
}

const PIVOT_HEAD = [
  'GROUP',
  'LEAKS ON',
  'HOSTS',
  'PROCESSES',
  'LEAKING',
  'MEDIAN KIB/H',
  'MEDIAN %/H',
  'LEAKING KIB/H',
];

/** Fixed decimals without a sign on zero: a median of -0.001 %/h is "0.00", not "-0.00". */
function fixed(v: number, digits: number): string {
  const text = v.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
}

/**
 * MEDIAN is over every process of the group, leaking or not; LEAKING KIB/H over the leaking
 * ones only (what the reports list), so a binary that leaks on a few of many hosts shows both
 * the fleet's typical rate and the leak's.
 */
function pivotCells(g: PivotRow, forCsv = false): string[] {
  return [
    g.group,
    String(g.leakingHosts),
    String(g.hosts),
    String(g.processes),
    String(g.leakingProcesses),
    fixed(g.medianSlopeKbPerHour, 1),
    fixed(g.medianPctPerHour, 2),
    g.medianLeakingSlopeKbPerHour === null
      ? forCsv
        ? ''
        : '-'
      : fixed(g.medianLeakingSlopeKbPerHour, 1),
  ];
}

export function renderPivot(groups: PivotRow[]): string {
  if (groups.length === 0) return 'no processes in this window\n';
  return table(
    PIVOT_HEAD,
    groups.map((g) => pivotCells(g)),
  );
}

export function pivotCsv(groups: PivotRow[]): string {
  return csv(
    PIVOT_HEAD.map((h) => h.replaceAll(' ', '_').replace('/', '_PER_')),
    groups.map((g) => pivotCells(g, true)),
  );
}

export const topCommand = withConnectionOptions(
  withHostOptions(
    new Command('top')
      .description('rank processes across hosts by memory growth over a window')
      .option('--window <length>', 'how far back: 30m, 6h, 24h, 7d', '6h')
      .addOption(
        new Option('--metric <metric>', 'what grows: anon = RssAnon + VmSwap')
          .choices(METRIC_NAMES)
          .default('anon'),
      ),
  )
    .option('--comm <name>', 'only processes with this comm')
    .option('--limit <n>', 'at most this many rows', '20')
    .option('--all', 'also processes not judged leaking')
    .addOption(
      new Option(
        '--group-by <key>',
        'per binary, command or cgroup: on how many hosts it leaks',
      ).choices(['exe', 'comm', 'cgroup']),
    )
    .option('--csv', 'print the table as CSV'),
).action(async (raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const parsed = topOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetCommandError(`--${issue?.path.join('.')}: ${issue?.message}`);
  }
  const opts = parsed.data;
  if (opts.groupBy !== undefined) {
    const groups = await topGroups(connection, { ...opts, groupBy: opts.groupBy });
    const why =
      groups.length === 0 && !json && !opts.csv
        ? await noHostMatches(connection, filtersOf(opts))
        : null;
    output(json, groups, () => why ?? (opts.csv ? pivotCsv(groups) : renderPivot(groups)));
    return;
  }
  const rows = await topProcesses(connection, opts);
  const why =
    rows.length === 0 && !json && !opts.csv
      ? await noHostMatches(connection, filtersOf(opts))
      : null;
  output(
    json,
    rows,
    () => why ?? (opts.csv ? topCsv(rows) : renderTop(rows, opts.all, opts.metric)),
  );
});
