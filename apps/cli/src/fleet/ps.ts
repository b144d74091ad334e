import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { noHostMatches } from './empty.ts';
import { FleetCommandError } from './errors.ts';
import { ago, table } from './format.ts';
import {
  output,
  parseConnectionOptions,
  withConnectionOptions,
  withHostOptions,
} from './options.ts';
import { filtersOf, parseLabels } from './top.ts';
import {
  commandText,
  csv,
  formatDuration,
  formatKb,
  formatUptime,
  shorten,
  uptimeMs,
} from './top-render.ts';

export type PsRow = inferRouterOutputs<AppRouter>['process']['list'][number];

const SORTS = ['rss', 'pss', 'uss', 'anon', 'heap', 'swap'] as const;

const psOptionsSchema = z.object({
  host: z.string().min(1).optional(),
  label: z.array(z.string()).default([]),
  sort: z.enum(SORTS).default('rss'),
  limit: z.coerce.number().int().min(1).max(100_000).default(50),
  csv: z.boolean().default(false),
});

export type PsOptions = z.infer<typeof psOptionsSchema>;

export function listProcesses(connection: Connection, opts: PsOptions): Promise<PsRow[]> {
  const labels = parseLabels(opts.label);
  return call(connection, (c) =>
    c.process.list.query({
      sort: opts.sort,
      limit: opts.limit,
      ...(opts.host === undefined ? {} : { hostGlob: opts.host }),
      ...(Object.keys(labels).length === 0 ? {} : { labels }),
    }),
  );
}

const HEAD = ['HOST', 'PID', 'COMMAND', 'UPTIME', 'RSS', 'PSS', 'USS', 'ANON', 'HEAP', 'SWAP'];

/**
 * How long before the row's snapshot a deeper tier was read: PSS and USS come from the newest
 * smaps_rollup, heap from the newest full map, and the agent reads those less often than the
 * counters. Zero when read with the snapshot (or not read at all).
 */
function readBeforeMs(r: PsRow, atMs: number | null): number {
  // A server older than these fields sends none: nothing is marked.
  return typeof atMs === 'number' ? Math.max(0, r.takenAtMs - atMs) : 0;
}

/** Marks a size measured before the snapshot, so that PSS above RSS does not read as an error. */
const EARLIER = '*';

function cells(r: PsRow, forCsv: boolean): string[] {
  const command = commandText(r);
  const kb = (v: number | null) => (forCsv ? (v === null ? '' : String(v)) : formatKb(v));
  const deeper = (v: number | null, atMs: number | null) =>
    forCsv || v === null || readBeforeMs(r, atMs) === 0 ? kb(v) : `${kb(v)}${EARLIER}`;
  const at = (v: number | null) => (v === null ? '' : String(v));
  return [
    r.host,
    String(r.pid),
    forCsv ? command : shorten(command),
    ...(forCsv
      ? [String(uptimeMs(r.takenAtMs, r.startedAtMs, r.firstSeenMs)), String(r.startedAtMs ?? '')]
      : [formatUptime(r.takenAtMs, r.startedAtMs, r.firstSeenMs)]),
    kb(r.rssKb),
    deeper(r.pssKb, r.rollupAtMs),
    deeper(r.ussKb, r.rollupAtMs),
    kb(r.anonKb),
    deeper(r.heapKb, r.heapAtMs),
    kb(r.swapKb),
    // The table stays narrow; CSV and JSON say what the process may grow to and when the
    // deeper tiers were read.
    ...(forCsv ? [kb(r.limitKb), at(r.rollupAtMs), at(r.heapAtMs)] : []),
  ];
}

/**
 * A host whose newest snapshot is older than this has stopped pushing (agents push every 30 s by
 * default; a spool replays a short outage): its rows are the state as of then, not now.
 */
const SILENT_AFTER_MS = 5 * 60_000;

/** The note under the table naming the hosts whose rows are old, or '' when none is. */
function silentHosts(rows: readonly PsRow[], nowMs: number): string {
  const newest = new Map<string, number>();
  for (const r of rows) newest.set(r.host, Math.max(newest.get(r.host) ?? 0, r.takenAtMs));
  const silent = [...newest].filter(([, t]) => nowMs - t > SILENT_AFTER_MS);
  if (silent.length === 0) return '';
  const shown = silent
    .slice(0, 10)
    .map(([h, t]) => `${h} (${ago(t, nowMs)})`)
    .join(', ');
  const more = silent.length > 10 ? ` and ${silent.length - 10} more` : '';
  return `not heard from lately, rows as of their last snapshot: ${shown}${more} (fleetpmap hosts)\n`;
}

export function renderPs(rows: PsRow[], nowMs: number = Date.now()): string {
  if (rows.length === 0) return 'no processes stored yet\n';
  const oldest = Math.max(
    ...rows.map((r) =>
      Math.max(
        r.pssKb === null ? 0 : readBeforeMs(r, r.rollupAtMs),
        r.heapKb === null ? 0 : readBeforeMs(r, r.heapAtMs),
      ),
    ),
  );
  const note =
    oldest === 0
      ? ''
      : `${EARLIER} read up to ${formatDuration(oldest)} before RSS, ANON and SWAP: smaps_rollup and full maps are read less often (--json: rollupAtMs, heapAtMs)\n`;
  return (
    table(
      HEAD,
      rows.map((r) => cells(r, false)),
    ) +
    note +
    silentHosts(rows, nowMs)
  );
}

/** CSV has no room for a `>`: STARTED_AT_MS is empty when UPTIME_MS is only a lower bound. */
export function psCsv(rows: PsRow[]): string {
  return csv(
    HEAD.flatMap((h) =>
      h === 'UPTIME'
        ? ['UPTIME_MS', 'STARTED_AT_MS']
        : [/^[A-Z]+SS$|ANON|HEAP|SWAP/.test(h) ? `${h}_KB` : h],
    ).concat('LIMIT_KB', 'ROLLUP_AT_MS', 'HEAP_AT_MS'),
    rows.map((r) => cells(r, true)),
  );
}

export const psCommand = withConnectionOptions(
  withHostOptions(
    new Command('ps').description('the latest state of processes across hosts, largest first'),
  )
    .addOption(new Option('--sort <metric>', 'order by this size').choices(SORTS).default('rss'))
    .option('--limit <n>', 'at most this many rows', '50')
    .option('--csv', 'print the table as CSV'),
).action(async (raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const parsed = psOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetCommandError(`--${issue?.path.join('.')}: ${issue?.message}`);
  }
  const rows = await listProcesses(connection, parsed.data);
  const why =
    rows.length === 0 && !json && !parsed.data.csv
      ? await noHostMatches(connection, filtersOf(parsed.data))
      : null;
  output(json, rows, () => why ?? (parsed.data.csv ? psCsv(rows) : renderPs(rows)));
});
