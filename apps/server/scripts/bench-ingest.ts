/**
 * `npm run bench:ingest`: simulated agents push concurrently over HTTP (gzip) to a real
 * fleetpmap-server on real Postgres; then, in the same run, the same sample rows are COPYed into
 * a plain table of the same Postgres as the reference floor.
 *
 *   --hosts N (100)  --processes N (200)  --cycles N (20)  --concurrency N (16)  --workers N (2)
 *   --full-maps N (2 full maps per snapshot)  --mappings N (80 per full map)
 *   database: FLEETPMAP_BENCH_DATABASE_URL, else FLEETPMAP_TEST_DATABASE_URL, else
 *   postgres://postgres@127.0.0.1:5432/postgres (a fresh database is created and dropped).
 *   FLEETPMAP_BENCH_SERVER_NODE_ARGS: extra node flags for the server process (profiling).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { benchAdminUrl } from '@fleetpmap/db';
import type { Snapshot } from '@fleetpmap/protocol';
import postgres from 'postgres';
import { startBenchServer } from './bench-server.ts';
import { createSimulatedHost, nextSnapshot } from './simulated-fleet.ts';

const { values: args } = parseArgs({
  options: {
    hosts: { type: 'string', default: '100' },
    processes: { type: 'string', default: '200' },
    cycles: { type: 'string', default: '20' },
    concurrency: { type: 'string', default: '16' },
    'full-maps': { type: 'string', default: '2' },
    mappings: { type: 'string', default: '80' },
    workers: { type: 'string', default: '2' },
  },
});
const HOSTS = Number(args.hosts);
const PROCESSES = Number(args.processes);
const CYCLES = Number(args.cycles);
const CONCURRENCY = Number(args.concurrency);
const FULL_MAPS = Number(args['full-maps']);
const MAPPINGS = Number(args.mappings);
const WORKERS = Number(args.workers);
const CYCLE_MS = 30_000;

const adminUrl = benchAdminUrl();

type Push = {
  host: number;
  cycle: number;
  body: Buffer;
  samples: number;
  mappings: number;
  mapWireBytes: number;
};

function log(line: string) {
  process.stderr.write(`${line}\n`);
}

/** CPU seconds of a process and of its direct children (the server's cluster workers). */
async function treeCpuSeconds(pid: number): Promise<number> {
  let total = await cpuSeconds(pid);
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) total += await cpuSeconds(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return total;
}

/** utime+stime of a process in seconds (fields 14 and 15 of /proc/PID/stat). */
async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Total CPU of every process whose comm is `postgres` (the server's backends included). */
async function postgresCpuSeconds(): Promise<number> {
  let total = 0;
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if ((await readFile(`/proc/${name}/comm`, 'utf8')).trim() === 'postgres') {
        total += await cpuSeconds(Number(name));
      }
    } catch {
      // exited while we looked
    }
  }
  return total;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function buildPushes(): { first: Push[]; rest: Push[]; copyRows: string[] } {
  const hosts = Array.from({ length: HOSTS }, (_, i) =>
    createSimulatedHost(i, { processes: PROCESSES, mappingsPerFullMap: MAPPINGS }),
  );
  const startMs = Date.now() - CYCLES * CYCLE_MS;
  const first: Push[] = [];
  const rest: Push[] = [];
  const copyRows: string[] = [];
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    for (const [i, host] of hosts.entries()) {
      const snapshot: Snapshot = nextSnapshot(host, startMs + cycle * CYCLE_MS, {
        fullMaps: FULL_MAPS,
        rollupEvery: 10,
      });
      const body = gzipSync(JSON.stringify(snapshot), { level: 6 });
      const withoutMaps = gzipSync(
        JSON.stringify({
          ...snapshot,
          processes: snapshot.processes.map(({ mappings: _m, ...p }) => p),
        }),
        { level: 6 },
      );
      const mappings = snapshot.processes.reduce((n, p) => n + (p.mappings?.length ?? 0), 0);
      const push = {
        host: i,
        cycle,
        body,
        samples: snapshot.processes.length,
        mappings,
        mapWireBytes: body.length - withoutMaps.length,
      };
      (cycle === 0 ? first : rest).push(push);
      const lines: string[] = [];
      for (const p of snapshot.processes) {
        const s = p.status;
        lines.push(
          `${i + 1}\t${snapshot.takenAtMs}\t${p.pid}\t${p.startTicks}\t${p.threads}\t${s.vmSizeKb}\t${s.vmRssKb}\t${s.rssAnonKb}\t${s.rssFileKb}\t${s.rssShmemKb}\t${s.vmSwapKb}\t${s.vmDataKb}\t${s.vmStkKb}\t${s.vmHwmKb}\n`,
        );
      }
      copyRows.push(lines.join(''));
    }
  }
  return { first, rest, copyRows };
}

async function startServer(databaseUrl: string, dataDir: string) {
  // e.g. FLEETPMAP_BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server
  const nodeArgs = (process.env.FLEETPMAP_BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return startBenchServer(databaseUrl, dataDir, {
    nodeArgs,
    args: ['--workers', String(WORKERS)],
    env: { FLEETPMAP_RATE_LIMIT_PER_SEC: '100000', FLEETPMAP_RATE_LIMIT_BURST: '100000' },
  });
}

function post(
  agent: Agent,
  url: string,
  path: string,
  token: string,
  body: Buffer | string,
  gzip: boolean,
) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          ...(gzip ? { 'content-encoding': 'gzip' } : {}),
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function runPushes(agent: Agent, url: string, tokens: string[], pushes: Push[]) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < pushes.length) {
      const p = pushes[next++] as Push;
      const t0 = performance.now();
      const r = await post(
        agent,
        url,
        '/trpc/snapshot.push',
        tokens[p.host] as string,
        p.body,
        true,
      );
      latencies.push(performance.now() - t0);
      if (r.status !== 200) throw new Error(`push answered ${r.status}: ${r.text.slice(0, 300)}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, latencies };
}

type Sizes = Record<string, number>;

async function tableSizes(sql: postgres.Sql): Promise<Sizes> {
  const rows = await sql<{ name: string; bytes: string }[]>`
    select coalesce(p.relname, c.relname) as name, sum(pg_total_relation_size(c.oid))::bigint as bytes
    from pg_class c
    left join pg_inherits i on i.inhrelid = c.oid
    left join pg_class p on p.oid = i.inhparent
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind = 'r'
    group by 1`;
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.bytes)]));
}

function delta(after: Sizes, before: Sizes, names: string[]): number {
  return names.reduce((n, name) => n + (after[name] ?? 0) - (before[name] ?? 0), 0);
}

async function main() {
  log(
    `building ${HOSTS * CYCLES} snapshots: ${HOSTS} hosts x ${PROCESSES} processes x ${CYCLES} cycles, ${FULL_MAPS} full maps of ${MAPPINGS} mappings each per snapshot`,
  );
  const { first, rest, copyRows } = buildPushes();

  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const dbName = `fleetpmap_bench_${randomBytes(5).toString('hex')}`;
  await admin.unsafe(`create database ${dbName}`);
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${dbName}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-bench-'));
  const sql = postgres(dbUrl.toString(), { max: 2, onnotice: () => {} });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    server = await startServer(dbUrl.toString(), dataDir);
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const tokens: string[] = [];
    for (let i = 0; i < HOSTS; i++) {
      const r = await post(
        agent,
        server.url,
        '/trpc/token.create',
        server.adminToken,
        JSON.stringify({ role: 'agent', hostName: `sim-${String(i).padStart(4, '0')}` }),
        false,
      );
      tokens.push(
        (JSON.parse(r.text) as { result: { data: { token: string } } }).result.data.token,
      );
    }

    const sizes0 = await tableSizes(sql);
    const firstRun = await runPushes(agent, server.url, tokens, first);
    await sql`checkpoint`;
    const sizes1 = await tableSizes(sql);
    const serverCpu0 = await treeCpuSeconds(server.child.pid as number);
    const pgCpu0 = await postgresCpuSeconds();
    const main = await runPushes(agent, server.url, tokens, rest);
    const serverCpu = (await treeCpuSeconds(server.child.pid as number)) - serverCpu0;
    const pgCpu = (await postgresCpuSeconds()) - pgCpu0;
    await sql`checkpoint`;
    const sizes2 = await tableSizes(sql);
    agent.destroy();

    const samples = rest.reduce((n, p) => n + p.samples, 0);
    const mappings = rest.reduce((n, p) => n + p.mappings, 0);
    const wire = rest.reduce((n, p) => n + p.body.length, 0);
    const mapWire = rest.reduce((n, p) => n + p.mapWireBytes, 0);
    const firstMappings = first.reduce((n, p) => n + p.mappings, 0);
    const sampleTables = ['sample_blocks', 'incarnations', 'hosts'];
    const mapTables = ['full_maps', 'map_entries'];
    const sampleBytes = delta(sizes2, sizes1, sampleTables);
    const mapBytesRepeat = delta(sizes2, sizes1, mapTables);
    const mapBytesFirst = delta(sizes1, sizes0, mapTables);

    // The reference: the same sample rows, COPYed into a plain table of the same Postgres.
    await sql`create table copy_reference (host_id int, taken_at_ms bigint, pid int, start_ticks bigint, threads int,
      vm_size_kb bigint, vm_rss_kb bigint, rss_anon_kb bigint, rss_file_kb bigint, rss_shmem_kb bigint,
      vm_swap_kb bigint, vm_data_kb bigint, vm_stk_kb bigint, vm_hwm_kb bigint)`;
    const copyRowsMain = copyRows.slice(first.length);
    const copyStarted = performance.now();
    const writable = await sql`copy copy_reference from stdin`.writable();
    for (const chunk of copyRowsMain) {
      if (!writable.write(chunk)) await once(writable, 'drain');
    }
    writable.end();
    await once(writable, 'finish');
    const copySeconds = (performance.now() - copyStarted) / 1000;
    await sql`checkpoint`;
    const [copySize] = await sql<
      { bytes: string }[]
    >`select pg_total_relation_size('copy_reference')::bigint as bytes`;

    const lat = main.latencies;
    const e2eRate = samples / main.seconds;
    const copyRate = samples / copySeconds;
    const figures = {
      snapshots: rest.length,
      processSamples: samples,
      mappings,
      seconds: round(main.seconds, 2),
      processSamplesPerSec: Math.round(e2eRate),
      mappingsPerSec: Math.round(mappings / main.seconds),
      pushP50Ms: round(percentile(lat, 50), 1),
      pushP99Ms: round(percentile(lat, 99), 1),
      wireBytesPerProcessSample: round((wire - mapWire) / samples, 1),
      wireBytesPerMapping: round(mapWire / mappings, 1),
      dbBytesPerProcessSample: round(sampleBytes / samples, 1),
      dbBytesPerMappingFirstMap: round(mapBytesFirst / firstMappings, 1),
      dbBytesPerMappingRepeatedMap: round(mapBytesRepeat / mappings, 1),
      serverCpuSeconds: round(serverCpu, 2),
      postgresCpuSeconds: round(pgCpu, 2),
      copyReferenceRowsPerSec: Math.round(copyRate),
      copyReferenceBytesPerRow: round(Number(copySize?.bytes ?? 0) / samples, 1),
      endToEndVsCopy: round(e2eRate / copyRate, 3),
      cpuMicrosPerProcessSample: round(((serverCpu + pgCpu) / samples) * 1e6, 1),
      cpuBoundCeilingSamplesPerSec: Math.round(
        availableParallelism() / ((serverCpu + pgCpu) / samples),
      ),
      loadAverage1m: round(loadavg()[0] ?? 0, 1),
      firstCycle: { snapshots: first.length, seconds: round(firstRun.seconds, 2) },
    };
    process.stdout.write(
      [
        `ingest over HTTP: ${rest.length} snapshots, ${samples} process samples, ${mappings} mappings in ${figures.seconds} s (concurrency ${CONCURRENCY}, ${WORKERS} server workers)`,
        `  process samples/s      ${figures.processSamplesPerSec}   (goal >= 100000)`,
        `  mappings/s             ${figures.mappingsPerSec}`,
        `  push latency           p50 ${figures.pushP50Ms} ms, p99 ${figures.pushP99Ms} ms`,
        `  wire bytes             ${figures.wireBytesPerProcessSample} B per process sample, ${figures.wireBytesPerMapping} B per mapping (gzip)`,
        `  database bytes         ${figures.dbBytesPerProcessSample} B per process sample incl. indexes (goal <= 24)`,
        `  full maps in database  ${figures.dbBytesPerMappingFirstMap} B per mapping of a first map, ${figures.dbBytesPerMappingRepeatedMap} B per mapping of a repeated map (${round(figures.dbBytesPerMappingRepeatedMap / figures.dbBytesPerMappingFirstMap, 3)}x)`,
        `  CPU during the run     server ${figures.serverCpuSeconds} s, postgres ${figures.postgresCpuSeconds} s: ${figures.cpuMicrosPerProcessSample} us per process sample`,
        `  CPU-bound ceiling      ${figures.cpuBoundCeilingSamplesPerSec} process samples/s on ${availableParallelism()} cores if nothing else ran (load average now ${figures.loadAverage1m})`,
        `reference: COPY of the same ${samples} sample rows into a plain table: ${figures.copyReferenceRowsPerSec} rows/s, ${figures.copyReferenceBytesPerRow} B per row`,
        `  end to end / COPY      ${figures.endToEndVsCopy}x the rate`,
        `  database bytes ratio   ${round(figures.dbBytesPerProcessSample / figures.copyReferenceBytesPerRow, 3)}x a plain row`,
        '',
        JSON.stringify(figures),
        '',
      ].join('\n'),
    );
  } finally {
    if (server) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
    await sql.end();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

await main();
