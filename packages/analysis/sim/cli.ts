import { once } from 'node:events';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  isRetryableStatus,
  parseSnapshot,
  SNAPSHOT_PUSH_PATH,
  type Snapshot,
} from '@fleetpmap/protocol';
import { buildFleet } from './fleet.ts';
import { parseScenario } from './scenario.ts';
import { hostSnapshots, truthOf } from './snapshots.ts';

const USAGE =
  'usage: npm run sim -- SCENARIO_FILE [--out DIR] [--server URL [--token-file FILE | --token TOKEN]] [--end-now] [--no-validate]';

export interface PushOptions {
  server: string;
  token: string;
  /** Attempts per snapshot for the retryable answers (429, 503, network errors). */
  attempts?: number;
}

/**
 * Pushes one snapshot through the real ingest API as an agent does: plain tRPC JSON, gzip,
 * bearer token. Retries only what the contract calls retryable; returns whether it was a
 * duplicate.
 */
export async function pushSnapshot(
  snapshot: Snapshot,
  opts: PushOptions,
): Promise<{ duplicate: boolean }> {
  const url = new URL(
    SNAPSHOT_PUSH_PATH,
    opts.server.endsWith('/') ? opts.server : `${opts.server}/`,
  );
  const body = gzipSync(JSON.stringify(snapshot));
  const attempts = opts.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    let status = 0;
    let text = '';
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          authorization: `Bearer ${opts.token}`,
        },
        body,
      });
      status = res.status;
      text = await res.text();
      if (res.ok) {
        const parsed = JSON.parse(text) as { result?: { data?: { duplicate?: boolean } } };
        return { duplicate: parsed.result?.data?.duplicate === true };
      }
    } catch (err) {
      text = err instanceof Error ? err.message : String(err);
    }
    const retryable = status === 0 || isRetryableStatus(status);
    if (!retryable || attempt >= attempts) {
      // A scenario's fixed start falls out of the server's retention as the calendar moves on.
      const hint = /older than this server keeps samples/.test(text)
        ? ' (--end-now shifts the scenario so that it ends now)'
        : '';
      throw new Error(
        `push of ${snapshot.snapshotId} failed: HTTP ${status || 'network error'}: ${text.slice(0, 300)}${hint}`,
      );
    }
    const backoff = Math.min(10_000, 200 * 2 ** attempt) * (0.5 + Math.random());
    await new Promise((r) => setTimeout(r, backoff));
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'end-now': { type: 'boolean', default: false },
      'no-validate': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const file = positionals[0];
  if (values.help || !file || positionals.length > 1) {
    console.error(USAGE);
    return values.help ? 0 : 2;
  }
  // As for the CLI: a token on the command line is visible to every user of the host (ps), so a
  // file, or the environment, is the better place for it.
  if (values.server === undefined && (values.token ?? values['token-file']) !== undefined) {
    console.error('sim: a token without --server has nowhere to go');
    return 2;
  }
  const tokenFile = values['token-file'] ?? nonEmpty(process.env.FLEETPMAP_TOKEN_FILE);
  const token =
    values.server === undefined
      ? undefined
      : (values.token ??
        (values['token-file'] === undefined ? nonEmpty(process.env.FLEETPMAP_TOKEN) : undefined) ??
        (tokenFile === undefined ? undefined : readFileSync(tokenFile, 'utf8').trim()));
  if (values.server !== undefined && !token) {
    console.error(
      'sim: --server needs a token: --token-file FILE, FLEETPMAP_TOKEN_FILE or FLEETPMAP_TOKEN',
    );
    return 2;
  }
  const scenario = parseScenario(JSON.parse(readFileSync(file, 'utf8')));
  if (values['end-now']) {
    // Shift the whole history so it ends now: the server refuses snapshots from the future,
    // and `top --window 6h` then looks at the end of the scenario.
    const interval = scenario.sampleIntervalSec * 1000;
    scenario.start =
      Math.floor((Date.now() - scenario.durationHours * 3_600_000) / interval) * interval;
  }
  const fleet = buildFleet(scenario);
  const out =
    values.out ?? (values.server ? undefined : join('bench-results', 'sim', scenario.name));
  let ndjson: ReturnType<typeof createWriteStream> | undefined;
  if (out) {
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'truth.json'), `${JSON.stringify(truthOf(fleet), null, 2)}\n`);
    ndjson = createWriteStream(join(out, 'snapshots.ndjson'));
  }
  let count = 0;
  let duplicates = 0;
  const started = Date.now();
  for (const host of fleet.hosts) {
    for (const snap of hostSnapshots(fleet, host.name)) {
      if (!values['no-validate']) {
        const check = parseSnapshot(snap, { nowMs: Math.max(Date.now(), fleet.endMs) });
        if (!check.ok)
          throw new Error(`generated snapshot invalid at ${check.path}: ${check.message}`);
      }
      if (ndjson && !ndjson.write(`${JSON.stringify(snap)}\n`)) await once(ndjson, 'drain');
      if (values.server && token) {
        const r = await pushSnapshot(snap, { server: values.server, token });
        if (r.duplicate) duplicates++;
      }
      count++;
      if (count % 5000 === 0) console.error(`sim: ${count} snapshots (${host.name})`);
    }
  }
  if (ndjson) {
    ndjson.end();
    await once(ndjson, 'finish');
  }
  const leaks = fleet.instances.filter((i) => i.leak).length;
  console.error(
    `sim: ${scenario.name}: ${fleet.hosts.length} hosts, ${fleet.instances.length} processes (${leaks} leaking), ${count} snapshots in ${((Date.now() - started) / 1000).toFixed(1)} s` +
      (out ? `; wrote ${join(out, 'truth.json')} and ${join(out, 'snapshots.ndjson')}` : '') +
      (values.server ? `; pushed to ${values.server} (${duplicates} duplicates)` : ''),
  );
  return 0;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`sim: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
