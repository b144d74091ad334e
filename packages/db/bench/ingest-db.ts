/**
 * Storage benchmark: bulk ingest of synthetic snapshots into a real Postgres through
 * `ingestSnapshot` (no HTTP, no validation), then the bytes the database holds per
 * process-sample, beside a plain `COPY` of the same samples, one row each, into the same server.
 *
 *   npm run bench:ingest-db -- [--hosts 50] [--processes 200] [--cycles 120] [--concurrency 4]
 *
 * Database: FLEETPMAP_BENCH_DATABASE_URL, else FLEETPMAP_TEST_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/postgres; a scratch database is created and dropped.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  exampleMapping,
  type Mapping,
  SNAPSHOT_SCHEMA_ID,
  type Snapshot,
} from '@fleetpmap/protocol';
import postgres from 'postgres';
import {
  benchAdminUrl,
  createScratchDb,
  ingestSnapshot,
  migrate,
  queryRows,
  rollupAggregates,
} from '../src/index.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    processes: { type: 'string', default: '200' },
    cycles: { type: 'string', default: '120' },
    concurrency: { type: 'string', default: '4' },
    'full-every': { type: 'string', default: '30' },
    'full-processes': { type: 'string', default: '5' },
  },
});
const HOSTS = Number(values.hosts);
const PROCS = Number(values.processes);
const CYCLES = Number(values.cycles);
const CONCURRENCY = Number(values.concurrency);
const FULL_EVERY = Number(values['full-every']);
const FULL_PROCS = Number(values['full-processes']);
const INTERVAL_MS = 30_000;
const T0 = Date.UTC(2026, 10, 23, 0, 0, 0);

let seed = 42;
function rand(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
  return seed / 2 ** 31;
}

interface ProcState {
  pid: number;
  startTicks: number;
  comm: string;
  anon: number;
  file: number;
  shmem: number;
  swap: number;
  data: number;
  size: number;
  threads: number;
  leakPerCycle: number;
  noisy: boolean;
}

function makeHost(h: number) {
  const procs: ProcState[] = Array.from({ length: PROCS }, (_, i) => {
    const anon = Math.floor(2_000 + rand() * 2_000_000);
    return {
      pid: 300 + i * 13 + Math.floor(rand() * 10),
      startTicks: 1_000 + Math.floor(rand() * 10_000_000),
      comm: ['java', 'nginx', 'postgres', 'sshd', 'python3', 'node', 'systemd-journal'][
        i % 7
      ] as string,
      anon,
      file: Math.floor(1_000 + rand() * 200_000),
      shmem: Math.floor(rand() * 50_000),
      swap: rand() < 0.1 ? Math.floor(rand() * 10_000) : 0,
      data: anon + Math.floor(rand() * 100_000),
      size: anon * 3 + 100_000,
      threads: 1 + Math.floor(rand() * 60),
      leakPerCycle: rand() < 0.05 ? Math.floor(1 + rand() * 64) : 0,
      noisy: rand() < 0.3,
    };
  });
  const libs = (p: ProcState): Mapping[] =>
    Array.from({ length: 300 }, (_, i) =>
      exampleMapping({
        start: (0x7f0000000000 + p.pid * 0x1000000 + i * 0x21000).toString(16),
        end: (0x7f0000021000 + p.pid * 0x1000000 + i * 0x21000).toString(16),
        perms: i % 3 === 0 ? 'r-xp' : 'r--p',
        dev: 'fe:01',
        inode: 100_000 + i,
        path: `/usr/lib/x86_64-linux-gnu/libbench${i}.so.${i % 7}`,
        kb: { Size: 132, KernelPageSize: 4, MMUPageSize: 4, Rss: 64, Pss: 12, Private_Dirty: 0 },
      }),
    );
  return {
    name: `bench-${String(h).padStart(4, '0')}`,
    bootId: randomUUID(),
    procs,
    libs,
  };
}

type BenchHost = ReturnType<typeof makeHost>;

function snapshotOf(host: BenchHost, cycle: number): Snapshot {
  for (const p of host.procs) {
    p.anon += p.leakPerCycle;
    if (p.noisy) p.anon = Math.max(0, p.anon + Math.floor((rand() - 0.5) * 64));
  }
  const full = cycle % FULL_EVERY === 0;
  return {
    schema: SNAPSHOT_SCHEMA_ID,
    snapshotId: randomUUID(),
    takenAtMs: T0 + cycle * INTERVAL_MS,
    host: {
      name: host.name,
      bootId: host.bootId,
      kernel: '6.18.0-1-amd64',
      memTotalKb: 24_576_000,
      pageSizeKb: 4,
      clockTicksPerSec: 100,
      // Start ticks go up to 10^7 (28 h): the hosts booted two days before the first cycle.
      bootTimeMs: T0 - 2 * 86_400_000,
      labels: { env: 'bench' },
    },
    agent: { version: '0.1.0' },
    processes: host.procs.map((p, i) => ({
      pid: p.pid,
      ppid: 1,
      uid: 1000,
      startTicks: p.startTicks,
      comm: p.comm,
      cmdline: `/usr/bin/${p.comm} --serve --port ${8000 + i}`,
      // A third run in cgroups with a memory limit (containers, MemoryMax=), as agents report.
      ...(i % 3 === 0 ? { memoryLimitKb: 2 * 1024 * 1024 } : {}),
      threads: p.threads,
      status: {
        vmSizeKb: p.size,
        vmRssKb: p.anon + p.file + p.shmem,
        rssAnonKb: p.anon,
        rssFileKb: p.file,
        rssShmemKb: p.shmem,
        vmSwapKb: p.swap,
        vmDataKb: p.data,
        vmStkKb: 132,
        vmHwmKb: p.anon + p.file + p.shmem + 1_000,
      },
      ...(full && i < FULL_PROCS ? { mappings: host.libs(p) } : {}),
    })),
  };
}

async function main() {
  const handle = await createScratchDb(benchAdminUrl(), {
    prefix: 'fleetpmap_bench',
    maxConnections: CONCURRENCY + 2,
  });
  const raw = postgres(handle.url, { max: 1, onnotice: () => {} });
  try {
    await migrate(handle);
    const hosts = Array.from({ length: HOSTS }, (_, h) => makeHost(h));
    const samples = HOSTS * PROCS * CYCLES;
    process.stderr.write(
      `ingesting ${HOSTS} hosts x ${PROCS} processes x ${CYCLES} cycles = ${samples} process-samples\n`,
    );
    // Snapshots are built up front so the timing covers storage only.
    const queues = hosts.map((h) => Array.from({ length: CYCLES }, (_, c) => snapshotOf(h, c)));
    const mappingsStored = queues
      .flat()
      .reduce((n, s) => n + s.processes.reduce((m, p) => m + (p.mappings?.length ?? 0), 0), 0);
    const order: Snapshot[][] = Array.from({ length: CONCURRENCY }, () => []);
    for (let c = 0; c < CYCLES; c++) {
      queues.forEach((q, h) => {
        order[h % CONCURRENCY]?.push(q[c] as Snapshot);
      });
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      order.map(async (list) => {
        for (const s of list) await ingestSnapshot(handle.db, s);
      }),
    );
    const ingestS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);

    const size = async (tables: string[]) => {
      let total = 0;
      for (const t of tables) {
        const [r] = await queryRows<{ n: number }>(
          handle.db,
          `select (pg_total_relation_size('${t}') + coalesce((select sum(pg_total_relation_size(inhrelid)) from pg_inherits where inhparent = '${t}'::regclass), 0))::bigint as n`,
        );
        total += Number(r?.n);
      }
      return total;
    };
    const sampleBytes = await size(['sample_blocks', 'incarnations', 'hosts']);
    const t1 = performance.now();
    const roll = await rollupAggregates(handle.db, { settleMs: 0 });
    const rollS = (performance.now() - t1) / 1000;
    const aggBytes = await size(['aggregates_5m', 'aggregates_1h']);
    const mapBytes = await size(['full_maps', 'map_entries']);

    // Reference: the same samples, one row per process-sample, COPY'd into a plain table.
    await raw.unsafe(`create table copy_ref (host_id int, taken_at_ms bigint, pid int, start_ticks bigint,
      threads int, vm_size_kb bigint, vm_rss_kb bigint, rss_anon_kb bigint, rss_file_kb bigint,
      rss_shmem_kb bigint, vm_swap_kb bigint, vm_data_kb bigint, vm_stk_kb bigint, vm_hwm_kb bigint,
      primary key (host_id, taken_at_ms, pid))`);
    const lines: string[] = [];
    queues.forEach((q, h) => {
      for (const s of q) {
        for (const p of s.processes) {
          const st = p.status;
          lines.push(
            `${h + 1}\t${s.takenAtMs}\t${p.pid}\t${p.startTicks}\t${p.threads}\t${st.vmSizeKb}\t${st.vmRssKb}\t${st.rssAnonKb}\t${st.rssFileKb}\t${st.rssShmemKb}\t${st.vmSwapKb}\t${st.vmDataKb}\t${st.vmStkKb}\t${st.vmHwmKb}\n`,
          );
        }
      }
    });
    const t2 = performance.now();
    const writable = await raw`copy copy_ref from stdin`.writable();
    const chunk = 10_000;
    for (let i = 0; i < lines.length; i += chunk) {
      const ok = writable.write(lines.slice(i, i + chunk).join(''));
      if (!ok) await new Promise((r) => writable.once('drain', r));
    }
    await new Promise<void>((resolve, reject) => {
      writable.end();
      writable.on('finish', resolve);
      writable.on('error', reject);
    });
    const copyS = (performance.now() - t2) / 1000;
    const [copySize] = await raw`select pg_total_relation_size('copy_ref')::bigint as n`;
    const copyBytes = Number(copySize?.n);

    const rate = samples / ingestS;
    const copyRate = samples / copyS;
    const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d });
    const firstMaps = HOSTS * FULL_PROCS;
    const out = [
      `process-samples           ${fmt(samples, 0)}`,
      `ingest                    ${fmt(rate, 0)} samples/s  (${fmt(ingestS, 2)} s wall, client CPU ${fmt((cpu.user + cpu.system) / 1e6, 2)} s, concurrency ${CONCURRENCY})`,
      `COPY reference            ${fmt(copyRate, 0)} samples/s  (${fmt(copyS, 2)} s)`,
      `ingest / COPY rate        ${fmt(rate / copyRate, 3)}x`,
      `bytes per sample, blocks  ${fmt(sampleBytes / samples, 2)} B  (sample_blocks + incarnations + hosts, with indexes)`,
      `bytes per sample, +aggr   ${fmt((sampleBytes + aggBytes) / samples, 2)} B  (plus 5-minute and hourly aggregates; rollup ${fmt(rollS, 2)} s, ${roll.buckets5m} 5m buckets)`,
      `bytes per sample, COPY    ${fmt(copyBytes / samples, 2)} B  (one row per sample with its primary key)`,
      `size vs COPY              ${fmt((sampleBytes + aggBytes) / copyBytes, 3)}x`,
      `full maps                 ${fmt(mappingsStored, 0)} mappings in ${fmt(mappingsStored / 301, 0)} maps (${firstMaps} distinct processes), ${fmt(mapBytes / mappingsStored, 1)} B per stored mapping`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await raw.end({ timeout: 5 });
    await handle[Symbol.asyncDispose]();
  }
}

await main();
