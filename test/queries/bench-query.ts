/**
 * `npm run bench:query`: ranking cost on a real Postgres. A fleet of 200 hosts × 100 processes
 * × 24 h at one sample a minute (28.8M samples) is loaded twice into one fresh database: into the
 * storage's own tables (incarnations, 5-minute and hourly aggregates, encoded by the storage's
 * codec) and into a plain table of raw samples. The storage also gets the 5-minute aggregates of
 * the four hours before (the same processes, running), as a fleet with history has: the 1 h and
 * 6 h windows compare their end with the same hours a day earlier. Then, median of 5 each:
 *
 * - `top --window 24h`, `--window 1h` and `--group-by exe` through the real server's tRPC API,
 *   scored live (what any window costs, first call after a rollup and repeated), then read from
 *   the verdicts the server stores after the rollup for its standard windows (`refreshVerdicts`,
 *   the server's own job, run here with the clock at the data's end, and timed);
 * - the naive SQL beside them: `regr_slope` over the raw samples, grouped per process (and per
 *   exe for the pivot), in the same database;
 * - the fleet leak report over 24 h (`report run`, in process), which reads every stored verdict
 *   of the window: the leaks whole and the quiet processes as points.
 *
 *   node test/queries/bench-query.ts [--hosts 200] [--processes 100]
 *
 * FLEETPMAP_BENCH_DATABASE_URL (else FLEETPMAP_TEST_DATABASE_URL, else the local Postgres) is the
 * server the scratch database is created on; it is dropped at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DAY_BEFORE_READ_MS } from '@fleetpmap/analysis';
import { type AppRouter, createReportServices, refreshVerdicts } from '@fleetpmap/api';
import {
  benchAdminUrl,
  createScratchDb,
  ensurePartitionsFor,
  incarnationKey,
  migrate,
  processAggregates,
  schema,
} from '@fleetpmap/db';
import { loadConfig, startServer } from '@fleetpmap/server';
import { createTRPCClient, httpLink } from '@trpc/client';
import { pino } from 'pino';
import postgres from 'postgres';
import {
  addPoint,
  encodeAggregates,
  type MetricAggregate,
  type ProcessAggregate,
} from '../../packages/db/src/codec/aggregate-block.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '200' },
    processes: { type: 'string', default: '100' },
  },
});
const HOSTS = Number(values.hosts);
const PROCS = Number(values.processes);
const HOUR = 3_600_000;
const MINUTE = 60_000;
// Whole hours, recent enough that the server's retention keeps every partition.
const END = Math.floor(Date.now() / HOUR) * HOUR;
const START = END - 24 * HOUR;
/** History stored before the window: what the day-over-day check of windows under a day reads. */
const HISTORY_BEFORE_MS = DAY_BEFORE_READ_MS;
const RUNS = 5;
/** One process in ten leaks, at 2 %/h of its base size; the rest are flat with ±1 % noise. */
const leaks = (pid: number) => pid % 10 === 0;
const baseKb = (pid: number) => 50_000 + (pid % 37) * 10_000;

/**
 * The same sample values in JavaScript (for the aggregates) and in SQL (for the raw table):
 * y = base · (1 + 0.02 · hours·leak) + noise, noise a fixed pseudo-random ±1 % of base.
 */
function sampleKb(host: number, pid: number, minute: number): number {
  const b = baseKb(pid);
  const growth = leaks(pid) ? (b * 0.02 * minute) / 60 : 0;
  const noise = (((host * 7919 + pid * 104_729 + minute * 1_299_709) % 2001) - 1000) / 1000;
  return Math.round(b + growth + 0.01 * b * noise);
}
const SAMPLE_SQL = `round(b + case when pid % 10 = 0 then b * 0.02 * m / 60.0 else 0 end
  + 0.01 * b * ((((h::bigint * 7919 + pid * 104729 + m * 1299709) % 2001) - 1000) / 1000.0))::bigint`;

function aggregate(
  host: number,
  pid: number,
  fromMinute: number,
  minutes: number,
): MetricAggregate {
  const acc: ProcessAggregate['metrics'] = {};
  for (let k = 0; k < minutes; k++)
    addPoint(acc, 'anon', k * 60, sampleKb(host, pid, fromMinute + k));
  return acc.anon as MetricAggregate;
}

function bucketRows(host: number, bootId: string, startMs: number, widthMs: number) {
  const fromMinute = (startMs - START) / MINUTE;
  const entries: ProcessAggregate[] = [];
  for (let p = 0; p < PROCS; p++) {
    const pid = 100 + p;
    entries.push({
      bootId,
      pid,
      startTicks: 1000 + pid,
      metrics: { anon: aggregate(host, pid, fromMinute, widthMs / MINUTE) },
    });
  }
  return encodeAggregates(entries);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const runs: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    result = await fn();
    runs.push(performance.now() - t0);
  }
  return { ms: median(runs), result: result as T };
}

function leakingOf(groups: readonly { leakingProcesses: number }[]): number {
  return groups.reduce((n, g) => n + g.leakingProcesses, 0);
}

async function main() {
  const dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-bench-query-'));
  const handle = await createScratchDb(benchAdminUrl(), {
    prefix: 'fleetpmap_bench',
    maxConnections: 4,
  });
  const sql = postgres(handle.url, { max: 1, onnotice: () => {} });
  const log = (s: string) => process.stderr.write(`${s}\n`);
  try {
    await migrate(handle);
    const { db } = handle;
    for (let t = START - HISTORY_BEFORE_MS; t <= END; t += 24 * HOUR)
      await ensurePartitionsFor(db, t);
    await ensurePartitionsFor(db, END);

    let t0 = performance.now();
    log(`loading aggregates: ${HOSTS} hosts x ${PROCS} processes x 24 h`);
    for (let h = 0; h < HOSTS; h++) {
      const bootId = randomUUID();
      const [row] = await db
        .insert(schema.hosts)
        .values({
          name: `host-${String(h).padStart(3, '0')}`,
          bootId,
          kernel: '6.18',
          memTotalKb: 24_000_000,
          pageSizeKb: 4,
          clockTicksPerSec: 100,
          agentVersion: '0.1.0',
          firstSeenMs: START - HISTORY_BEFORE_MS - HOUR,
          lastSeenMs: END,
          processCount: PROCS,
        })
        .returning({ id: schema.hosts.id });
      const hostId = row?.id as number;
      await db.insert(schema.incarnations).values(
        Array.from({ length: PROCS }, (_, p) => {
          const pid = 100 + p;
          return {
            hostId,
            bootId,
            pid,
            startTicks: 1000 + pid,
            ppid: 1,
            uid: 0,
            comm: `svc${pid % 20}`,
            cmdline: `/usr/bin/svc${pid % 20} --serve`,
            exe: `/usr/bin/svc${pid % 20}`,
            cgroup: `/system.slice/svc${pid % 20}.service`,
            firstSeenMs: START - HISTORY_BEFORE_MS - HOUR,
            lastSeenMs: END,
          };
        }),
      );
      const fine = [];
      for (let t = START - HISTORY_BEFORE_MS; t < END; t += 5 * MINUTE) {
        fine.push({
          hostId,
          bucketMs: t,
          processCount: PROCS,
          data: bucketRows(h, bootId, t, 5 * MINUTE),
        });
      }
      for (let i = 0; i < fine.length; i += 100) {
        await db.insert(schema.aggregates5m).values(fine.slice(i, i + 100));
      }
      const hourly = [];
      for (let t = START; t < END; t += HOUR) {
        hourly.push({
          hostId,
          bucketMs: t,
          processCount: PROCS,
          data: bucketRows(h, bootId, t, HOUR),
        });
      }
      await db.insert(schema.aggregates1h).values(hourly);
    }
    const aggregatesS = (performance.now() - t0) / 1000;

    t0 = performance.now();
    const samples = HOSTS * PROCS * 24 * 60;
    log(`loading ${samples.toLocaleString('en-US')} raw samples with generate_series`);
    // Unlogged: the table is scratch data for the comparison, its WAL would only slow the load.
    await sql.unsafe(`create unlogged table raw_samples (
      host_id integer not null, pid integer not null, start_ticks bigint not null,
      taken_at_ms bigint not null, anon_kb bigint not null)`);
    for (let h0 = 0; h0 < HOSTS; h0 += 20) {
      await sql.unsafe(`insert into raw_samples
        select i.id, g.pid, 1000 + g.pid, ${START} + m * ${MINUTE}, ${SAMPLE_SQL}
        from generate_series(${h0}, ${Math.min(HOSTS, h0 + 20) - 1}) h
        join hosts i on i.name = 'host-' || lpad(h::text, 3, '0')
        cross join generate_series(100, ${100 + PROCS - 1}) g(pid)
        cross join lateral (select (50000 + (g.pid % 37) * 10000)::float8 as b) c
        cross join generate_series(0, ${24 * 60 - 1}) m`);
    }
    await sql.unsafe('create index raw_samples_time on raw_samples using brin (taken_at_ms)');
    await sql.unsafe('vacuum analyze');
    const rawS = (performance.now() - t0) / 1000;
    const [check] = await sql.unsafe<{ n: string }[]>(
      'select count(*)::text as n from raw_samples',
    );
    if (Number(check?.n) !== samples) throw new Error(`raw table holds ${check?.n} rows`);

    // The server's own verdict job would score at the wall clock, an hour or so past the data;
    // the bench runs the same job itself with the clock at the data's end.
    const config = loadConfig(
      { dataDir, listen: '127.0.0.1:0', database: handle.url },
      { FLEETPMAP_LOG_LEVEL: 'silent', FLEETPMAP_VERDICT_WINDOWS: '' },
    );
    const server = await startServer(config, pino({ level: 'silent' }));
    try {
      const token = (await readFile(server.adminTokenPath, 'utf8')).trim();
      const client = createTRPCClient<AppRouter>({
        links: [
          httpLink({ url: `${server.url}/trpc`, headers: { authorization: `Bearer ${token}` } }),
        ],
      });
      // Live scoring keeps a window's result until the rollup watermark moves. Cold: the
      // watermark is moved before every call (the first call after a rollup); warm: calls
      // repeated within one rollup period. Moving it records no late data, so a stored run
      // stays valid: stored reads are timed the same way.
      const newRollup = () =>
        sql.unsafe(`insert into rollup_state (name, watermark_ms) values ('aggregates', 0)
          on conflict (name) do update set watermark_ms = rollup_state.watermark_ms + 1`);
      const both = async <T>(fn: () => Promise<T>) => {
        const cold: number[] = [];
        for (let i = 0; i < RUNS; i++) {
          await newRollup();
          const t0 = performance.now();
          await fn();
          cold.push(performance.now() - t0);
        }
        const warm = await timed(fn);
        return { cold: median(cold), ms: warm.ms, result: warm.result };
      };
      const top = (windowMs: number) =>
        both(() => client.process.top.query({ windowMs, toMs: END, limit: 20, all: false }));
      const pivotQuery = () =>
        client.process.pivot.query({ windowMs: 24 * HOUR, toMs: END, groupBy: 'exe', limit: 50 });
      log('timing top --window 24h, 1h, --group-by exe, scored live');
      const live24 = await top(24 * HOUR);
      const live1 = await top(HOUR);
      const livePivot = await both(pivotQuery);

      log('storing the verdicts of 1h, 6h, 24h, 7d (the job the server runs after the rollup)');
      const refreshed = await refreshVerdicts(
        db,
        { windowsMs: [HOUR, 6 * HOUR, 24 * HOUR, 7 * 24 * HOUR], metrics: ['anon'] },
        { nowMs: END, force: true },
      );
      log('timing them again, read from the stored verdicts');
      const top24 = await top(24 * HOUR);
      const top1 = await top(HOUR);
      const pivot = await both(pivotQuery);
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      if (!same(top24.result, live24.result) || !same(pivot.result, livePivot.result)) {
        throw new Error('the stored ranking differs from the live one');
      }

      // The fleet leak report the server makes daily, in process with the clock at the data's
      // end: every leak in full, the quiet processes as points, compared and stored.
      const reports = createReportServices(db, {
        claimedBy: 'bench',
        canDeliver: false,
        nowMs: () => END,
      });
      log('timing the fleet leak report over 24h');
      const report24 = await timed(() =>
        reports.run({ windowMs: 24 * HOUR, metric: 'anon', deliver: false }),
      );
      if (report24.result.report.fleet.leakingProcesses !== leakingOf(pivot.result)) {
        throw new Error('the report counts other leaks than the pivot');
      }

      const naiveTop = (fromMs: number) =>
        timed(() =>
          sql.unsafe(`select host_id, pid, start_ticks,
              regr_slope(anon_kb, taken_at_ms) * 3600000 as slope_kb_per_hour
            from raw_samples where taken_at_ms >= ${fromMs} and taken_at_ms < ${END}
            group by host_id, pid, start_ticks
            order by slope_kb_per_hour desc limit 20`),
        );
      log('timing the naive SQL');
      const naive24 = await naiveTop(START);
      const naive1 = await naiveTop(END - HOUR);
      const naivePivot = await timed(() =>
        sql.unsafe(`with s as (
            select host_id, pid, start_ticks,
              regr_slope(anon_kb, taken_at_ms) * 3600000 as slope,
              regr_slope(anon_kb, taken_at_ms) * 3600000 / avg(anon_kb) * 100 as pct
            from raw_samples where taken_at_ms >= ${START} and taken_at_ms < ${END}
            group by host_id, pid, start_ticks)
          select i.exe, count(distinct s.host_id) as hosts,
            count(distinct s.host_id) filter (where s.pct >= 0.25) as leaking_hosts,
            percentile_cont(0.5) within group (order by s.slope) as median_slope
          from s join incarnations i using (host_id, pid, start_ticks)
          group by i.exe order by leaking_hosts desc`),
      );

      // The windows under a day share their day-before read within one refresh pass: the 1 h and
      // 6 h windows refreshed together against each refreshed alone, alternated.
      const underDay = [HOUR, 6 * HOUR];
      const pass = async (groups: number[][]) => {
        const t0 = performance.now();
        for (const windowsMs of groups) {
          await refreshVerdicts(db, { windowsMs, metrics: ['anon'] }, { nowMs: END, force: true });
        }
        return performance.now() - t0;
      };
      const together: number[] = [];
      const apart: number[] = [];
      for (let i = 0; i < 2; i++) {
        together.push(await pass([underDay]));
        apart.push(await pass(underDay.map((w) => [w])));
      }

      // Where the time goes: the aggregate read alone (in this process, no HTTP), and the verdicts
      // against the generator's truth.
      const read = (windowMs: number) =>
        timed(() =>
          processAggregates(db, { fromMs: END - windowMs, toMs: END, metrics: ['anon'] }),
        );
      const read24 = await read(24 * HOUR);
      const read1 = await read(HOUR);
      // What a window under a day reads besides when a host runs a restarted service: the day's
      // earlier incarnations on 5-minute buckets (here as if every host ran one).
      const readDay = await timed(() =>
        processAggregates(db, {
          fromMs: END - 24 * HOUR,
          toMs: END - HOUR,
          resolution: '5m',
          metrics: ['anon'],
        }),
      );
      // And what a window over 6 hours and under a day reads for such a service: its incarnations
      // in the window on 5-minute buckets, for the pooled test (one process per host here).
      const onePerHost = new Map(read1.result.map((p) => [p.hostId, p]));
      const readWindowFine = await timed(() =>
        processAggregates(db, {
          fromMs: END - 12 * HOUR,
          toMs: END,
          resolution: '5m',
          metrics: ['anon'],
          only: new Set([...onePerHost.values()].map((p) => `${p.hostId}/${incarnationKey(p)}`)),
        }),
      );
      if (readWindowFine.result.length !== HOSTS) {
        throw new Error(`the 5-minute window read found ${readWindowFine.result.length} processes`);
      }
      const every = await client.process.top.query({
        windowMs: 24 * HOUR,
        toMs: END,
        limit: 100_000,
        all: true,
      });
      const truthLeaks = every.filter((r) => leaks(r.pid));
      const found = truthLeaks.filter((r) => r.leak).length;
      const falseAlarms = every.filter((r) => r.leak && !leaks(r.pid)).length;
      const missed = new Map<string, number>();
      for (const r of truthLeaks)
        if (!r.leak) missed.set(r.reason, (missed.get(r.reason) ?? 0) + 1);

      const leakCount = top24.result.length;
      const leaking = leakingOf(pivot.result);
      const f = (ms: number) => `${ms.toFixed(1).padStart(10)} ms`;
      const ratio = (a: number, b: number) => `${(a / b).toFixed(1)}x`;
      process.stdout.write(
        `${[
          `fleet                      ${HOSTS} hosts x ${PROCS} processes x 24 h, 1 sample/min = ${samples.toLocaleString('en-US')} samples`,
          `load                       aggregates ${aggregatesS.toFixed(1)} s, raw samples ${rawS.toFixed(1)} s`,
          `verdicts (24h)             ${leaking} of ${HOSTS * PROCS} processes leak; ${found} of ${truthLeaks.length} true leaks found, ${falseAlarms} false alarms${missed.size > 0 ? `; missed: ${[...missed].map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}; top 24h returned ${leakCount} rows (limit 20)`,
          `aggregate read alone       24h ${read24.ms.toFixed(1)} ms, 1h ${read1.ms.toFixed(1)} ms (median of ${RUNS}, in process); a restarted service's day for the 1h window on every host ${readDay.ms.toFixed(1)} ms, its 12h window on 5-minute buckets ${readWindowFine.ms.toFixed(1)} ms`,
          '',
          `verdict refresh (job)      ${refreshed.map((r) => `${r.windowMs / HOUR}h ${(r.tookMs / 1000).toFixed(1)} s`).join(', ')}; ${refreshed[0]?.rows ?? 0} rows each`,
          `1h + 6h refresh            one pass ${(Math.min(...together) / 1000).toFixed(1)} s, each alone ${(Math.min(...apart) / 1000).toFixed(1)} s (best of 2; one day-before read instead of two)`,
          '',
          `median of ${RUNS}                     stored    live cold    live warm    naive SQL  naive/stored  naive/live cold`,
          ...(
            [
              ['top --window 24h', top24, live24, naive24],
              ['top --window 1h', top1, live1, naive1],
              ['top --group-by exe (24h)', pivot, livePivot, naivePivot],
            ] as const
          ).map(
            ([label, ours, live, naive]) =>
              `${label.padEnd(25)}${f(ours.cold)}${f(live.cold)}${f(live.ms)}${f(naive.ms)}${ratio(naive.ms, ours.cold).padStart(14)}${ratio(naive.ms, live.cold).padStart(17)}`,
          ),
          '',
          `fleet leak report 24h      ${f(report24.ms)} (median of ${RUNS}, in process, stored verdicts): ${report24.result.report.fleet.processes.toLocaleString('en-US')} processes, ${report24.result.report.leaks.length} leaks listed of ${report24.result.report.fleet.leakingProcesses}; ${ratio(report24.ms, top24.cold)} top 24h's read of 20 rows`,
          '',
          `24h / 1h                   stored ${(top24.cold / top1.cold).toFixed(2)}x, live cold ${(live24.cold / live1.cold).toFixed(2)}x, live warm ${(live24.ms / live1.ms).toFixed(2)}x   (goal <= 1.5x)`,
          `naive 24h / top 24h        stored ${ratio(naive24.ms, top24.cold)}, live cold ${ratio(naive24.ms, live24.cold)}, live warm ${ratio(naive24.ms, live24.ms)}   (goal >= 100x)`,
        ].join('\n')}\n`,
      );
    } finally {
      await server.close();
    }
  } finally {
    await sql.end({ timeout: 5 });
    await handle[Symbol.asyncDispose]();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
