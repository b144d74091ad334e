import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Command } from 'commander';
import { z } from 'zod';
import { parseTimeMs } from './at-time.ts';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { isoTime, printable, table } from './format.ts';
import { parseHostPid } from './history.ts';
import { output, parseConnectionOptions, withConnectionOptions } from './options.ts';
import { csv, formatKb } from './top-render.ts';

export type DiffResult = inferRouterOutputs<AppRouter>['map']['diff'];

const diffOptionsSchema = z.object({
  from: z.string().optional(),
  to: z.string().optional(),
  csv: z.boolean().default(false),
});

export function diffMaps(
  connection: Connection,
  target: { host: string; pid: number },
  opts: z.infer<typeof diffOptionsSchema>,
  nowMs = Date.now(),
): Promise<DiffResult> {
  return call(connection, (c) =>
    c.map.diff.query({
      ...target,
      ...(opts.from === undefined ? {} : { fromMs: parseTimeMs(opts.from, nowMs, '--from') }),
      ...(opts.to === undefined ? {} : { toMs: parseTimeMs(opts.to, nowMs, '--to') }),
    }),
  );
}

const HEAD = [
  'CHANGE',
  'ADDRESS',
  'PERM',
  'RSS BEFORE',
  'RSS AFTER',
  'RSS DELTA',
  'SIZE DELTA',
  'MAPPING',
];

function cells(c: DiffResult['changes'][number], forCsv: boolean): string[] {
  const kb = (v: number) => (forCsv ? String(v) : formatKb(v));
  const signed = (v: number) => (forCsv ? String(v) : `${v > 0 ? '+' : ''}${formatKb(v)}`);
  return [
    c.kind,
    `${c.start}-${c.end}`,
    c.perms,
    kb(c.rssBeforeKb),
    kb(c.rssAfterKb),
    signed(c.rssDeltaKb),
    signed(c.sizeDeltaKb),
    c.path === '' ? '[ anon ]' : c.path,
  ];
}

export function renderDiff(d: DiffResult): string {
  const head =
    `${printable(d.host)}:${d.pid} from ${isoTime(d.fromMs)} to ${isoTime(d.toMs)}: ` +
    `RSS ${formatKb(d.rssBeforeKb)} -> ${formatKb(d.rssAfterKb)}\n`;
  if (d.changes.length === 0) return `${head}no mapping changed\n`;
  return (
    head +
    table(
      HEAD,
      d.changes.map((c) => cells(c, false)),
    )
  );
}

export function diffCsv(d: DiffResult): string {
  return csv(
    HEAD.map((h) =>
      h.replaceAll(' ', '_').replace(/^(RSS|SIZE)_(BEFORE|AFTER|DELTA)$/, '$1_$2_KB'),
    ),
    d.changes.map((c) => cells(c, true)),
  );
}

export const diffCommand = withConnectionOptions(
  new Command('diff')
    .description('what appeared, disappeared and grew between two stored maps of a process')
    .argument('<host:pid>', 'the process, e.g. web-07:4121')
    .option('--from <time>', 'the earliest map at or after this time (default: the first stored)')
    .option('--to <time>', 'the latest map at or before this time (default: the newest)')
    .option('--csv', 'print the table as CSV'),
).action(async (targetText: string, raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const parsed = diffOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new FleetCommandError('invalid options');
  const d = await diffMaps(connection, parseHostPid(targetText), parsed.data);
  output(json, d, () => (parsed.data.csv ? diffCsv(d) : renderDiff(d)));
});
