/**
 * `npm run bench:big-map`: what one very large full map costs the server's other requests. A
 * host pushes the full map of a process with `--mappings` mappings (100,000: about 1.5 × Linux's
 * default vm.max_map_count) to a real fleetpmap-server on real Postgres, while a probe asks
 * /healthz every 5 ms. The figure is the probe's longest wait: how long the server's event loop
 * was held. The reference, measured in this run on the same body, is what any JSON-over-HTTP
 * server must do with it at the least: inflate and JSON.parse it in one go.
 *
 *   --mappings N (100000)  --pushes N (3)
 *   database: FLEETPMAP_BENCH_DATABASE_URL, else FLEETPMAP_TEST_DATABASE_URL, else
 *   postgres://postgres@127.0.0.1:5432/postgres (a fresh database is created and dropped).
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { benchAdminUrl, createScratchDb } from '@fleetpmap/db';
import { startBenchServer } from './bench-server.ts';
import { createSimulatedHost, nextSnapshot } from './simulated-fleet.ts';

const { values: args } = parseArgs({
  options: {
    mappings: { type: 'string', default: '100000' },
    pushes: { type: 'string', default: '3' },
  },
});
const MAPPINGS = Number(args.mappings);
const PUSHES = Number(args.pushes);
const PROBE_EVERY_MS = 5;

function startServer(databaseUrl: string, dataDir: string) {
  return startBenchServer(databaseUrl, dataDir, {
    env: {
      // one body of this size must be admitted whole
      FLEETPMAP_MAX_INFLATED_BYTES: String(512 * 1024 * 1024),
      FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT: String(1024 * 1024 * 1024),
    },
  });
}

async function post(url: string, token: string, body: Buffer | string, gzip: boolean) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/** Asks /healthz back to back, `PROBE_EVERY_MS` apart, until stopped; the longest answer. */
function probe(url: string) {
  let stopped = false;
  let longest = 0;
  const done = (async () => {
    while (!stopped) {
      const t0 = performance.now();
      await (await fetch(`${url}/healthz`)).text();
      longest = Math.max(longest, performance.now() - t0);
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    }
  })();
  return async () => {
    stopped = true;
    await done;
    return longest;
  };
}

async function main() {
  const host = createSimulatedHost(0, { processes: 1, mappingsPerFullMap: MAPPINGS });
  await using database = await createScratchDb(benchAdminUrl(), { prefix: 'fleetpmap_bench' });
  const dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-bench-'));
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    server = await startServer(database.url, dataDir);
    const created = await post(
      `${server.url}/trpc/token.create`,
      server.adminToken,
      JSON.stringify({ role: 'agent', hostName: host.name }),
      false,
    );
    const token = (JSON.parse(created.text) as { result: { data: { token: string } } }).result.data
      .token;
    const lines: string[] = [];
    for (let i = 0; i < PUSHES; i++) {
      const snapshot = nextSnapshot(host, Date.now() - 1000, { fullMaps: 1, rollupEvery: 1 });
      const body = gzipSync(JSON.stringify(snapshot));
      // The reference: inflate and parse the same body here, as one synchronous stretch.
      const r0 = performance.now();
      JSON.parse(gunzipSync(body).toString('utf8'));
      const referenceMs = performance.now() - r0;
      const stopProbe = probe(server.url);
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      const answer = await post(`${server.url}/trpc/snapshot.push`, token, body, true);
      const pushMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 50));
      const heldMs = await stopProbe();
      if (answer.status !== 200) throw new Error(`push answered ${answer.status}: ${answer.text}`);
      lines.push(
        `  push ${i + 1} (${i === 0 ? 'first map: every mapping stored' : 'repeated map: changes only'}): ${Math.round(pushMs)} ms; /healthz waited at most ${Math.round(heldMs)} ms; reference inflate + JSON.parse ${Math.round(referenceMs)} ms; held / reference ${(heldMs / referenceMs).toFixed(2)}x`,
      );
    }
    process.stdout.write(
      [
        `one full map of ${MAPPINGS} mappings pushed ${PUSHES} times, /healthz probed every ${PROBE_EVERY_MS} ms:`,
        ...lines,
        '',
      ].join('\n'),
    );
  } finally {
    if (server) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
