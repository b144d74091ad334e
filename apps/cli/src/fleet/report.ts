import { writeFile } from 'node:fs/promises';
import {
  describeScope,
  type LeakReport,
  renderReportHtml,
  renderReportMarkdown,
} from '@fleetpmap/analysis';
import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { parseDurationMs } from './at-time.ts';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { isoTime, printable, table } from './format.ts';
import {
  output,
  parseConnectionOptions,
  withConnectionOptions,
  withHostOptions,
} from './options.ts';
import { METRIC_NAMES, parseLabels } from './top.ts';
import { commandText, csv, formatDuration, formatKb, shorten } from './top-render.ts';

type Outputs = inferRouterOutputs<AppRouter>['report'];
export type ReportListing = Outputs['list'][number];
export type StoredReport = Outputs['get'];

export const REPORT_FORMATS = ['text', 'md', 'html', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function listReports(
  connection: Connection,
  opts: { limit: number; beforeId?: number | undefined; schedule?: string | undefined },
): Promise<ReportListing[]> {
  return call(connection, (c) =>
    c.report.list.query({
      limit: opts.limit,
      ...(opts.beforeId === undefined ? {} : { beforeId: opts.beforeId }),
      ...(opts.schedule === undefined ? {} : { schedule: opts.schedule }),
    }),
  );
}

/** A report by id; else the newest, of one schedule when `schedule` is given. */
export function getReport(
  connection: Connection,
  id: number | undefined,
  schedule?: string,
): Promise<StoredReport> {
  return call(connection, (c) =>
    c.report.get.query(id !== undefined ? { id } : schedule !== undefined ? { schedule } : {}),
  );
}

export function runReport(
  connection: Connection,
  opts: {
    windowMs: number;
    metric: (typeof METRIC_NAMES)[number];
    deliver: boolean;
    hostGlob?: string;
    labels?: Record<string, string>;
  },
): Promise<StoredReport> {
  return call(connection, (c) => c.report.run.mutate(opts));
}

const LIST_HEAD = [
  'ID',
  'SCHEDULE',
  'SCOPE',
  'STATE',
  'GENERATED',
  'WINDOW',
  'LEAKING',
  'ON HOSTS',
  'NEW',
  'DELIVERY',
];

function listCells(r: ReportListing, forCsv: boolean): string[] {
  const count = (n: number | null, of: number | null) =>
    n === null ? '-' : forCsv || of === null ? String(n) : `${n}/${of}`;
  return [
    String(r.id),
    r.schedule,
    describeScope(r.scope) ?? (forCsv ? '' : 'all hosts'),
    r.state === 'failed' && r.error !== null && !forCsv ? `failed: ${r.error}` : r.state,
    forCsv ? String(r.generatedAtMs ?? '') : isoTime(r.generatedAtMs),
    forCsv ? String(r.windowMs) : formatDuration(r.windowMs),
    count(r.leakingProcesses, r.processes),
    count(r.leakingHosts, r.hosts),
    r.newLeaks === null ? '-' : String(r.newLeaks),
    r.delivery === 'failed' && r.deliveryError !== null && !forCsv
      ? `failed: ${r.deliveryError}`
      : r.delivery,
  ];
}

export function renderReportList(reports: ReportListing[]): string {
  if (reports.length === 0) {
    return 'no reports yet (the server makes one on its schedule; `fleetpmap report run` makes one now)\n';
  }
  return table(
    LIST_HEAD,
    reports.map((r) => listCells(r, false)),
  );
}

export function reportListCsv(reports: ReportListing[]): string {
  const head = LIST_HEAD.map((h) =>
    h === 'GENERATED' ? 'GENERATED_AT_MS' : h === 'WINDOW' ? 'WINDOW_MS' : h.replaceAll(' ', '_'),
  );
  return csv(
    head,
    reports.map((r) => listCells(r, true)),
  );
}

/** The report in the asked format; `json` is the report alone, as the webhook sends it. */
export function renderReport(stored: StoredReport, format: ReportFormat): string {
  const report = stored.report as LeakReport;
  const title = `fleetpmap leak report ${stored.id}`;
  if (format === 'html') return renderReportHtml(report, { title });
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'md') return renderReportMarkdown(report, { title });
  return renderReportText(stored);
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** For a terminal: the totals in a few lines, then the leaks and binaries as `top` tables. */
export function renderReportText(stored: StoredReport): string {
  const r = stored.report as LeakReport;
  const f = r.fleet;
  const scope = describeScope(r.scope);
  const lines = [
    `fleetpmap leak report ${stored.id} (${stored.schedule}${scope === null ? '' : `; ${scope}`}), ${formatDuration(r.window.ms)} of ${r.metric} to ${isoTime(r.window.toMs)}`,
    f.leakingProcesses === 0
      ? `no process leaks on ${plural(f.hosts, 'host', 'hosts')} (${plural(f.processes, 'process', 'processes')} watched)`
      : `${plural(f.leakingProcesses, 'process leaks', 'processes leak')} on ${f.leakingHosts} of ${plural(f.hosts, 'host', 'hosts')} (${plural(f.processes, 'process', 'processes')} watched), together +${formatKb(f.leakingKbPerHour)}/h`,
  ];
  const c = r.changes;
  if (c) {
    lines.push(
      `since report ${c.previousId} of ${isoTime(c.previousGeneratedAtMs)}: ${c.newLeaks} new, ${c.continuingLeaks} continuing, ${c.resolved.length + c.resolvedOmitted} resolved`,
    );
  }
  // The scope quotes a host glob and labels; the tables below make their own cells printable.
  let out = `${lines.map(printable).join('\n')}\n`;
  // Only when some leak began inside the window: otherwise the column would be all dashes.
  const since = r.leaks.some((l) => (l.growingSinceMs ?? null) !== null);
  if (r.leaks.length > 0) {
    out += `\n${table(
      [
        'HOST',
        'PID',
        'COMMAND',
        'SIZE',
        'GROWTH',
        'KIB/H',
        '%/H',
        'CONFIDENCE',
        'TO LIMIT',
        ...(since ? ['GROWING SINCE'] : []),
        ...(c ? ['STATUS'] : []),
      ],
      r.leaks.map((l) => [
        l.host,
        String(l.pid),
        shorten(commandText(l)),
        formatKb(l.currentKb),
        formatKb(l.growthKb),
        Math.round(l.slopeKbPerHour).toString(),
        l.pctPerHour.toFixed(2),
        l.confidence.toFixed(2),
        l.timeToLimitHours === null ? '-' : formatDuration(l.timeToLimitHours * 3_600_000),
        ...(since ? [l.growingSinceMs == null ? '-' : isoTime(l.growingSinceMs)] : []),
        ...(c ? [l.status ?? '-'] : []),
      ]),
    )}`;
    if (r.leaksOmitted > 0) out += `(${r.leaksOmitted} more leaking processes not listed)\n`;
  }
  if (r.groups.length > 0) {
    out += `\n${table(
      // The leaking processes' median, as top --group-by's LEAKING KIB/H.
      ['BINARY', 'LEAKS ON', 'HOSTS', 'LEAKING', 'LEAKING KIB/H'],
      r.groups.map((g) => [
        g.group,
        String(g.leakingHosts),
        String(g.hosts),
        String(g.leakingProcesses),
        g.medianLeakingSlopeKbPerHour === null ? '-' : g.medianLeakingSlopeKbPerHour.toFixed(1),
      ]),
    )}`;
    if (r.groupsOmitted > 0) out += `(${r.groupsOmitted} more leaking binaries not listed)\n`;
  }
  if (c && c.resolved.length > 0) {
    out += `\nresolved since report ${c.previousId}:\n${table(
      ['HOST', 'PID', 'COMMAND'],
      c.resolved.map((x) => [x.host, String(x.pid), shorten(commandText(x))]),
    )}`;
  }
  return out;
}

const showOptions = z.object({
  format: z.enum(REPORT_FORMATS).default('text'),
  output: z.string().min(1).optional(),
  json: z.boolean().optional(),
});

/** Prints the report, or writes it to `--output` and says where on stderr. */
async function emit(stored: StoredReport, raw: unknown): Promise<void> {
  const opts = showOptions.parse(raw);
  const text =
    opts.json === true ? `${JSON.stringify(stored, null, 2)}\n` : renderReport(stored, opts.format);
  if (opts.output === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    await writeFile(opts.output, text);
  } catch (error) {
    throw new FleetCommandError(`cannot write ${opts.output}: ${(error as Error).message}`);
  }
  process.stderr.write(`report ${stored.id} written to ${opts.output}\n`);
}

function withFormatOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--format <format>', 'text (tables, for a terminal), md, html or json')
        .choices(REPORT_FORMATS)
        .default('text'),
    )
    .option('-o, --output <file>', 'write the report to a file instead of stdout');
}

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || text === 'latest') return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) < 1 || Number(text) > 2_147_483_647) {
    throw new FleetCommandError(`report id "${text}": expected a number from \`report list\``);
  }
  return Number(text);
}

const list = withConnectionOptions(
  new Command('list')
    .description('the newest reports first: when, over which window, how many leaks, delivery')
    .option('--limit <n>', 'at most this many', '20')
    .option('--before <id>', 'only reports older than this one (to page back)')
    .option('--schedule <name>', 'only this schedule: scheduled, manual or a team schedule')
    .option('--csv', 'print the table as CSV'),
).action(async (raw: { limit: string; before?: string; schedule?: string; csv?: boolean }) => {
  const { connection, json } = parseConnectionOptions(raw);
  const limit = z.coerce.number().int().min(1).max(1000).safeParse(raw.limit);
  if (!limit.success) throw new FleetCommandError(`--limit "${raw.limit}": expected 1 to 1000`);
  const reports = await listReports(connection, {
    limit: limit.data,
    beforeId: raw.before === undefined ? undefined : parseId(raw.before),
    schedule: raw.schedule,
  });
  output(json, reports, () => (raw.csv ? reportListCsv(reports) : renderReportList(reports)));
});

const show = withFormatOptions(
  withConnectionOptions(
    new Command('show')
      .description('print a report (the newest when no id is given)')
      .argument('[id]', 'report id from `report list`, or latest')
      .option('--schedule <name>', "without an id: that schedule's newest report"),
  ),
).action(async (id: string | undefined, raw: { schedule?: string }) => {
  const { connection } = parseConnectionOptions(raw);
  const reportId = parseId(id);
  if (reportId !== undefined && raw.schedule !== undefined) {
    throw new FleetCommandError('give a report id or --schedule, not both');
  }
  await emit(await getReport(connection, reportId, raw.schedule), raw);
});

const run = withFormatOptions(
  withConnectionOptions(
    withHostOptions(
      new Command('run')
        .description('make a report now, of every host or some, store it and print it (admin)')
        .option('--window <length>', 'how far back: 30m, 6h, 24h, 7d', '24h')
        .addOption(
          new Option('--metric <metric>', 'what grows: anon = RssAnon + VmSwap')
            .choices(METRIC_NAMES)
            .default('anon'),
        ),
    ).option('--deliver', "also send it to the server's webhook"),
  ),
).action(
  async (raw: {
    window: string;
    metric: (typeof METRIC_NAMES)[number];
    deliver?: boolean;
    host?: string;
    label?: string[];
  }) => {
    const { connection } = parseConnectionOptions(raw);
    const labels = parseLabels(raw.label ?? []);
    const stored = await runReport(connection, {
      windowMs: parseDurationMs(raw.window, '--window'),
      metric: raw.metric,
      deliver: raw.deliver === true,
      ...(raw.host === undefined ? {} : { hostGlob: raw.host }),
      ...(Object.keys(labels).length === 0 ? {} : { labels }),
    });
    await emit(stored, raw);
    if (stored.delivery === 'pending') {
      process.stderr.write(
        `report ${stored.id} is queued for the webhook; \`fleetpmap report list\` shows when it is delivered\n`,
      );
    }
  },
);

export const reportCommand = new Command('report')
  .description('the fleet leak reports the server makes on its schedule: list, show, run')
  .addCommand(list.exitOverride())
  .addCommand(show.exitOverride())
  .addCommand(run.exitOverride());
