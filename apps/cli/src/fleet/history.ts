import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import asciichart from 'asciichart';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { parseDurationMs, parseTimeMs } from './at-time.ts';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { isoTime, printable } from './format.ts';
import { output, parseConnectionOptions, withConnectionOptions } from './options.ts';
import { METRIC_NAMES } from './top.ts';
import { commandText, formatDuration, formatKb } from './top-render.ts';

export type HistoryResult = inferRouterOutputs<AppRouter>['process']['history'];

/** `HOST:PID`: the host is everything before the last colon (names may hold none, IPv6 may). */
export function parseHostPid(text: string): { host: string; pid: number } {
  const colon = text.lastIndexOf(':');
  const host = colon > 0 ? text.slice(0, colon).replace(/^\[(.*)\]$/, '$1') : '';
  const pidText = text.slice(colon + 1);
  if (host === '' || !/^[1-9]\d{0,6}$/.test(pidText)) {
    throw new FleetCommandError(`"${text}": expected HOST:PID, e.g. web-07:4121`);
  }
  return { host, pid: Number(pidText) };
}

const historyOptionsSchema = z.object({
  window: z.string().default('6h'),
  to: z.string().optional(),
  metric: z.enum(METRIC_NAMES).default('anon'),
  width: z.coerce.number().int().min(10).max(1000).default(72),
  height: z.coerce.number().int().min(3).max(100).default(12),
});

export function processHistory(
  connection: Connection,
  target: { host: string; pid: number },
  opts: z.infer<typeof historyOptionsSchema>,
  nowMs = Date.now(),
): Promise<HistoryResult> {
  const toMs = opts.to === undefined ? nowMs : parseTimeMs(opts.to, nowMs, '--to');
  const fromMs = toMs - parseDurationMs(opts.window, '--window');
  return call(connection, (c) =>
    c.process.history.query({ ...target, fromMs, toMs, metric: opts.metric }),
  );
}

/** Averages the points into `width` columns so the chart fits the terminal. */
function columns(h: HistoryResult, width: number, fromMs: number, toMs: number) {
  const span = Math.max(1, toMs - fromMs);
  const sums = new Array<number>(width).fill(0);
  const counts = new Array<number>(width).fill(0);
  for (const p of h.points) {
    const i = Math.min(width - 1, Math.floor(((p.tMs - fromMs) / span) * width));
    sums[i] = (sums[i] as number) + p.kb;
    counts[i] = (counts[i] as number) + 1;
  }
  const series: number[] = [];
  const trend: number[] = [];
  // A column without a sample (fewer samples than columns) repeats the one before: asciichart
  // takes the range over every value, and one NaN would make it NaN.
  const firstKb = h.points[0]?.kb ?? 0;
  for (let i = 0; i < width; i++) {
    const c = counts[i] as number;
    series.push(c > 0 ? (sums[i] as number) / c : (series[i - 1] ?? firstKb));
    const hours = ((i + 0.5) / width) * (span / 3_600_000);
    trend.push(h.trend.interceptKb + h.trend.slopeKbPerHour * hours);
  }
  return { series, trend };
}

export function renderHistory(h: HistoryResult, opts: { width: number; height: number }): string {
  const first = h.points[0];
  const last = h.points[h.points.length - 1];
  const title = `${printable(`${h.host}:${h.pid} ${commandText(h)}`)}\n`;
  if (!first || !last) return `${title}no ${h.metric} samples in this window\n`;
  const { series, trend } = columns(h, opts.width, first.tMs, last.tMs);
  const chart = asciichart.plot([series, trend], {
    height: opts.height,
    format: (v: number) => formatKb(v).padStart(8),
  });
  const t = h.trend;
  const verdict = t.leak ? 'LEAK' : t.reason;
  return (
    `${title}${h.metric} KiB from ${isoTime(first.tMs)} to ${isoTime(last.tMs)} ` +
    `(${h.points.length} samples over ${formatDuration(last.tMs - first.tMs)})\n` +
    `${chart}\n` +
    `trend of the floor: ${t.slopeKbPerHour >= 0 ? '+' : ''}${Math.round(t.slopeKbPerHour)} KiB/h ` +
    `(${t.pctPerHour.toFixed(2)} %/h), confidence ${t.confidence.toFixed(2)}, ` +
    `time to limit ${t.timeToLimitHours === null ? '-' : formatDuration(t.timeToLimitHours * 3_600_000)}` +
    // MemTotal, or the process's cgroup memory limit when lower: say which one it ran to.
    `${t.limitKb === null ? '' : ` of ${formatKb(t.limitKb)}`}, ` +
    `verdict ${verdict}\n` +
    onsetLine(h)
  );
}

/** A full map is stored every 15 minutes at most; starting a diff that long before the onset
 * takes the last map from before it. */
const DIFF_LEAD_MS = 15 * 60_000;

/** When a leak's growth began, and the diff that shows what grew since. */
function onsetLine(h: HistoryResult): string {
  const o = h.trend.onset;
  if (o === null) return '';
  const rate = (kbPerHour: number) => `${kbPerHour >= 0 ? '+' : ''}${Math.round(kbPerHour)} KiB/h`;
  return (
    `growth began about ${isoTime(o.atMs)}: ${rate(o.slopeBeforeKbPerHour)} before, ` +
    `${rate(o.slopeAfterKbPerHour)} since\n` +
    `what grew since: fleetpmap diff ${printable(h.host)}:${h.pid} --from ${isoTime(o.atMs - DIFF_LEAD_MS)}\n`
  );
}

export const historyCommand = withConnectionOptions(
  new Command('history')
    .description("one process's memory over a window as a chart with its fitted trend")
    .argument('<host:pid>', 'the process, e.g. web-07:4121')
    .option('--window <length>', 'how far back: 30m, 6h, 24h, 7d', '6h')
    .option('--to <time>', 'end of the window: ISO date or relative (2h = two hours ago)')
    .addOption(
      new Option('--metric <metric>', 'what to chart: anon = RssAnon + VmSwap')
        .choices(METRIC_NAMES)
        .default('anon'),
    )
    .option('--width <columns>', 'chart width', '72')
    .option('--height <rows>', 'chart height', '12'),
).action(async (targetText: string, raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const parsed = historyOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetCommandError(`--${issue?.path.join('.')}: ${issue?.message}`);
  }
  const h = await processHistory(connection, parseHostPid(targetText), parsed.data);
  output(json, h, () => renderHistory(h, parsed.data));
});
