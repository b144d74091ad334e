/**
 * Ranking read cost: 24 h of aggregates for a fleet (default 200 hosts × 100 processes) loaded
 * in bulk into a real Postgres, then `processAggregates` over a 1 h window (5-minute buckets)
 * and a 24 h window (hourly buckets), median of 5 each, and their ratio.
 *
 *   node bench/query-db.ts [--hosts 200] [--processes 100]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  encodeAggregates,
  type MetricAggregate,
  type ProcessAggregate,
} from '../src/codec/aggregate-block.ts';
import {
  benchAdminUrl,
  createScratchDb,
  ensurePartitionsFor,
  migrate,
  processAggregates,
  schema,
} from '../src/index.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '200' },
    processes: { type: 'string', default: '100' },
  },
});
const HOSTS = Number(values.hosts);
const PROCS = Number(values.processes);
const END = Date.UTC(2026, 10, 23, 12, 0, 0);
const START = END - 24 * 3_600_000;

/** A linear series y = y0 + slope·t sampled every 60 s from `t0` seconds, in closed form. */
function linear(n: number, t0: number, y0: number, slopePerSec: number): MetricAggregate {
  let sumSec = 0;
  let sumSecSq = 0;
  let sumKb = 0;
  let sumSecKb = 0;
  for (let i = 0; i < n; i++) {
    const t = t0 + i * 60;
    const y = Math.round(y0 + slopePerSec * t);
    sumSec += t;
    sumSecSq += t * t;
    sumKb += y;
    sumSecKb += t * y;
  }
  const first = Math.round(y0 + slopePerSec * t0);
  const last = Math.round(y0 + slopePerSec * (t0 + (n - 1) * 60));
  return {
    n,
    minKb: Math.min(first, last),
    maxKb: Math.max(first, last),
    firstKb: first,
    lastKb: last,
    firstSec: t0,
    lastSec: t0 + (n - 1) * 60,
    sumSec,
    sumSecSq,
    sumKb,
    sumSecKb,
  };
}

function bucket(
  procs: { pid: number; y0: number; slope: number }[],
  bootId: string,
  startMs: number,
  widthMs: number,
): ProcessAggregate[] {
  const n = widthMs / 60_000;
  const off = (startMs - START) / 1000;
  return procs.map((p) => {
    const anon = linear(n, 0, p.y0 + p.slope * off, p.slope);
    return {
      bootId,
      pid: p.pid,
      startTicks: 1000 + p.pid,
      metrics: {
        anon,
        rss: {
          ...anon,
          minKb: anon.minKb + 5000,
          maxKb: anon.maxKb + 5000,
          firstKb: anon.firstKb + 5000,
          lastKb: anon.lastKb + 5000,
          sumKb: anon.sumKb + 5000 * n,
          sumSecKb: anon.sumSecKb + 5000 * anon.sumSec,
        },
        swap: linear(n, 0, 0, 0),
      },
    };
  });
}

async function main() {
  const handle = await createScratchDb(benchAdminUrl(), {
    prefix: 'fleetpmap_bench',
    maxConnections: 4,
  });
  const { db } = handle;
  try {
    await migrate(handle);
    await ensurePartitionsFor(db, START);
    await ensurePartitionsFor(db, END);
    process.stderr.write(`loading ${HOSTS} hosts x ${PROCS} processes x 24 h of aggregates\n`);
    for (let h = 0; h < HOSTS; h++) {
      const bootId = randomUUID();
      const [row] = await db
        .insert(schema.hosts)
        .values({
          name: `q-${h}`,
          bootId,
          kernel: '6.18',
          memTotalKb: 24_000_000,
          pageSizeKb: 4,
          clockTicksPerSec: 100,
          agentVersion: '0.1.0',
          firstSeenMs: START,
          lastSeenMs: END,
          processCount: PROCS,
        })
        .returning({ id: schema.hosts.id });
      const hostId = row?.id as number;
      const procs = Array.from({ length: PROCS }, (_, i) => ({
        pid: 100 + i,
        y0: 10_000 + i * 1000,
        slope: i % 10 === 0 ? 0.05 : 0,
      }));
      await db.insert(schema.incarnations).values(
        procs.map((p) => ({
          hostId,
          bootId,
          pid: p.pid,
          startTicks: 1000 + p.pid,
          ppid: 1,
          uid: 0,
          comm: `proc${p.pid % 17}`,
          cmdline: `/usr/bin/proc${p.pid % 17} --flag`,
          firstSeenMs: START,
          lastSeenMs: END,
        })),
      );
      const rows5m = [];
      for (let t = START; t < END; t += 300_000) {
        rows5m.push({
          hostId,
          bucketMs: t,
          processCount: PROCS,
          data: encodeAggregates(bucket(procs, bootId, t, 300_000)),
        });
      }
      for (let i = 0; i < rows5m.length; i += 100) {
        await db.insert(schema.aggregates5m).values(rows5m.slice(i, i + 100));
      }
      const rows1h = [];
      for (let t = START; t < END; t += 3_600_000) {
        rows1h.push({
          hostId,
          bucketMs: t,
          processCount: PROCS,
          data: encodeAggregates(bucket(procs, bootId, t, 3_600_000)),
        });
      }
      await db.insert(schema.aggregates1h).values(rows1h);
    }
    await db.execute('analyze');
    const time = async (fromMs: number) => {
      const runs: number[] = [];
      let count = 0;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const r = await processAggregates(db, { fromMs, toMs: END, metrics: ['anon'] });
        runs.push(performance.now() - t0);
        count = r.length;
      }
      runs.sort((a, b) => a - b);
      return { ms: runs[2] as number, count };
    };
    const h1 = await time(END - 3_600_000);
    const h24 = await time(START);
    const fmt = (n: number) => n.toFixed(1);
    process.stdout.write(
      `${[
        `processes                 ${HOSTS * PROCS}`,
        `aggregates 1 h window     ${fmt(h1.ms)} ms (median of 5, 5-minute buckets, ${h1.count} series)`,
        `aggregates 24 h window    ${fmt(h24.ms)} ms (median of 5, hourly buckets, ${h24.count} series)`,
        `24 h / 1 h                ${(h24.ms / h1.ms).toFixed(2)}x`,
      ].join('\n')}\n`,
    );
  } finally {
    await handle[Symbol.asyncDispose]();
  }
}

await main();
