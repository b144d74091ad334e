// `fleetpmap import FILE|-`: NDJSON of protocol-v1 snapshots pushed through snapshot.push, for
// backfills and for snapshots other agents collected. Each line is checked here first so a bad
// line is reported with its number and never stops the others.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { isRetryableStatus, MAX_INFLATED_BODY_BYTES, parseSnapshot } from '@fleetpmap/protocol';
import { TRPCClientError } from '@trpc/client';
import { Command } from 'commander';
import { createFleetClient, NotTheApiError, transportFailure } from './client.ts';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { printable } from './format.ts';
import { output, parseConnectionOptions, withConnectionOptions } from './options.ts';

export type ImportResult = {
  lines: number;
  imported: number;
  duplicates: number;
  bad: { line: number; error: string }[];
};

/** Pushes in flight at once: enough to hide the round trip, few enough for the rate limit. */
const IN_FLIGHT = 4;
/**
 * How long one line is tried again while the server answers 429, 502, 503 or 504: a busy server
 * (its body budget full), a proxy in front of a restarting one, or a database failover passes
 * within it, and a backfill goes on instead of listing every line of that minute as bad.
 */
const RETRY_FOR_MS = 5 * 60_000;
/** The longest wait between two tries of a line. */
const MAX_RETRY_DELAY_MS = 30_000;
/** Bad lines listed in full; beyond that only counted, so a wrong file cannot flood memory. */
const MAX_BAD_LISTED = 1000;

/**
 * The wait before the next try: what the server's Retry-After asks, else doubling from 0.5 s;
 * at most MAX_RETRY_DELAY_MS, and spread by ±25 % so that the pushes turned away together do not
 * come back together.
 */
function retryDelay(error: unknown, attempt: number): number {
  const response = (error as { meta?: { response?: Response } }).meta?.response;
  const asked = Number(response?.headers.get('retry-after'));
  const base =
    Number.isFinite(asked) && asked > 0 ? asked * 1000 : 250 * 2 ** Math.min(attempt, 10);
  return Math.min(MAX_RETRY_DELAY_MS, base) * (0.75 + Math.random() * 0.5);
}

function statusOf(error: unknown): number | undefined {
  if (!(error instanceof TRPCClientError)) return undefined;
  return (error.data as { httpStatus?: number } | undefined)?.httpStatus;
}

/**
 * The one 403 that is about a line rather than the token: an agent token writing a host other
 * than its own, which the server answers naming the refused field, `host.name`. Any other 403 (a
 * reader or enroll token, which may not push at all) is the same for every line.
 */
function isHostRefusal(error: unknown): boolean {
  if (!(error instanceof TRPCClientError)) return false;
  const field = (error.data as { field?: string } | undefined)?.field;
  // Servers before the field say it in words only.
  return field === 'host.name' || /^this agent token is bound to host /.test(error.message);
}

export async function importSnapshots(
  connection: Connection,
  input: Readable,
  opts: {
    progress?: (r: ImportResult) => void;
    sleep?: (ms: number) => Promise<void>;
    /** how long a line is tried again while the server is busy or away */
    retryForMs?: number;
  } = {},
): Promise<ImportResult> {
  const retryForMs = opts.retryForMs ?? RETRY_FOR_MS;
  const client = createFleetClient(connection);
  const sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const result: ImportResult = { lines: 0, imported: 0, duplicates: 0, bad: [] };
  let badCount = 0;
  const bad = (line: number, error: string) => {
    badCount++;
    if (result.bad.length < MAX_BAD_LISTED) result.bad.push({ line, error });
  };
  let fatal: Error | undefined;

  const push = async (line: number, snapshot: unknown) => {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await client.snapshot.push.mutate(snapshot as never);
        if (r.duplicate) result.duplicates++;
        else result.imported++;
        return;
      } catch (error) {
        const status = statusOf(error);
        // About the token, not the line: every other line would be refused the same way.
        if (status === 401 || (status === 403 && !isHostRefusal(error))) {
          fatal ??= new FleetCommandError(
            `server answered ${status}: ${(error as Error).message} (give an admin token, or the host's agent token)`,
          );
          return;
        }
        const cause = error instanceof TRPCClientError ? error.cause : undefined;
        const failure = transportFailure(error, connection);
        if (
          failure !== undefined &&
          !(cause instanceof NotTheApiError && isRetryableStatus(cause.status))
        ) {
          fatal ??= new FleetCommandError(failure);
          return;
        }
        const retry = status === undefined || isRetryableStatus(status);
        if (retry && Date.now() - started < retryForMs) {
          await sleep(retryDelay(error, attempt));
          continue;
        }
        bad(
          line,
          status === undefined
            ? (error as Error).message
            : `${status}: ${(error as Error).message}`,
        );
        return;
      }
    }
  };

  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const inFlight = new Set<Promise<void>>();
  let lastProgress = Date.now();
  for await (const text of lines) {
    if (fatal) break;
    const line = ++result.lines;
    if (text.trim() === '') continue;
    if (text.length > MAX_INFLATED_BODY_BYTES) {
      bad(line, `longer than ${MAX_INFLATED_BODY_BYTES} bytes`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      bad(line, `not JSON: ${(error as Error).message}`);
      continue;
    }
    const parsed = parseSnapshot(json);
    if (!parsed.ok) {
      bad(line, parsed.path === '' ? parsed.message : `${parsed.path}: ${parsed.message}`);
      continue;
    }
    const p = push(line, json).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    if (opts.progress && Date.now() - lastProgress >= 1000) {
      lastProgress = Date.now();
      opts.progress({ ...result, bad: result.bad });
    }
  }
  await Promise.all(inFlight);
  if (fatal) throw fatal;
  if (badCount > result.bad.length) {
    result.bad.push({
      line: 0,
      error: `${badCount - result.bad.length} more bad lines not listed`,
    });
  }
  return result;
}

function summary(r: ImportResult): string {
  const bad = r.bad.filter((b) => b.line > 0).length;
  return `${r.lines} lines: ${r.imported} imported, ${r.duplicates} already stored, ${bad} bad`;
}

export const importCommand = withConnectionOptions(
  new Command('import')
    .description('push NDJSON protocol-v1 snapshots (FILE, or - for stdin) through the server')
    .argument('<file>', 'NDJSON file, one snapshot per line; - reads stdin'),
).action(async (file: string, raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  let input: Readable;
  if (file === '-') input = process.stdin;
  else {
    input = createReadStream(file);
    await new Promise<void>((resolve, reject) => {
      input.once('open', () => resolve());
      input.once('error', (e) =>
        reject(new FleetCommandError(`cannot read ${file}: ${(e as Error).message}`)),
      );
    });
    // A directory opens like a file; only the first read would fail.
    if ((await stat(file)).isDirectory()) {
      input.destroy();
      throw new FleetCommandError(`cannot read ${file}: it is a directory, not an NDJSON file`);
    }
  }
  const result = await importSnapshots(connection, input, {
    progress: (r) => process.stderr.write(`fleetpmap: import: ${summary(r)} so far\n`),
  });
  for (const b of result.bad) {
    // Messages quote the snapshot's and the server's text.
    const error = printable(b.error);
    process.stderr.write(
      b.line > 0 ? `fleetpmap: line ${b.line}: ${error}\n` : `fleetpmap: ${error}\n`,
    );
  }
  process.stderr.write(`fleetpmap: import: ${summary(result)}\n`);
  output(json, result, () => '');
  if (result.bad.length > 0) throw new FleetCommandError('some lines were not imported', 1);
});
