import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { StoredSample } from './sample-block.ts';
import { ByteReader, ByteWriter } from './varint.ts';

/** The ranked metrics (KiB). `anon` = RssAnon + VmSwap: swapped-out anonymous memory still leaks. */
export const METRICS = ['anon', 'heap', 'rss', 'pss', 'uss', 'swap'] as const;
export type Metric = (typeof METRICS)[number];

/** Metric values of one sample; undefined when the tier that measures it was not read. */
export function metricValues(s: StoredSample): (number | undefined)[] {
  return [
    s.status.rssAnonKb + s.status.vmSwapKb,
    s.regions ? s.regions.heap.rssKb + s.regions.heap.swapKb : undefined,
    s.status.vmRssKb,
    s.rollup?.pssKb,
    s.rollup ? s.rollup.privateCleanKb + s.rollup.privateDirtyKb : undefined,
    s.status.vmSwapKb,
  ];
}

/**
 * One metric of one process over one bucket. Times `…Sec` are whole seconds since the bucket's
 * start; the sums are what a least-squares fit needs (n, Σt, Σt², Σy, Σty), min is the floor.
 */
export interface MetricAggregate {
  n: number;
  minKb: number;
  maxKb: number;
  firstKb: number;
  lastKb: number;
  firstSec: number;
  lastSec: number;
  sumSec: number;
  sumSecSq: number;
  sumKb: number;
  sumSecKb: number;
}

export interface ProcessAggregate {
  bootId: string;
  pid: number;
  startTicks: number;
  metrics: Partial<Record<Metric, MetricAggregate>>;
}

export function addPoint(
  acc: Partial<Record<Metric, MetricAggregate>>,
  metric: Metric,
  sec: number,
  kb: number,
): void {
  const a = acc[metric];
  if (!a) {
    acc[metric] = {
      n: 1,
      minKb: kb,
      maxKb: kb,
      firstKb: kb,
      lastKb: kb,
      firstSec: sec,
      lastSec: sec,
      sumSec: sec,
      sumSecSq: sec * sec,
      sumKb: kb,
      sumSecKb: sec * kb,
    };
    return;
  }
  a.n++;
  if (kb < a.minKb) a.minKb = kb;
  if (kb > a.maxKb) a.maxKb = kb;
  if (sec >= a.lastSec) {
    a.lastSec = sec;
    a.lastKb = kb;
  }
  if (sec < a.firstSec) {
    a.firstSec = sec;
    a.firstKb = kb;
  }
  a.sumSec += sec;
  a.sumSecSq += sec * sec;
  a.sumKb += kb;
  a.sumSecKb += sec * kb;
}

/** Folds an aggregate of a sub-bucket starting `offsetSec` later into `into`. */
export function mergeAggregate(
  into: Partial<Record<Metric, MetricAggregate>>,
  metric: Metric,
  a: MetricAggregate,
  offsetSec: number,
): void {
  const s: MetricAggregate = {
    ...a,
    firstSec: a.firstSec + offsetSec,
    lastSec: a.lastSec + offsetSec,
    sumSec: a.sumSec + a.n * offsetSec,
    sumSecSq: a.sumSecSq + 2 * offsetSec * a.sumSec + a.n * offsetSec * offsetSec,
    sumSecKb: a.sumSecKb + offsetSec * a.sumKb,
  };
  const cur = into[metric];
  if (!cur) {
    into[metric] = s;
    return;
  }
  cur.n += s.n;
  cur.minKb = Math.min(cur.minKb, s.minKb);
  cur.maxKb = Math.max(cur.maxKb, s.maxKb);
  if (s.lastSec >= cur.lastSec) {
    cur.lastSec = s.lastSec;
    cur.lastKb = s.lastKb;
  }
  if (s.firstSec < cur.firstSec) {
    cur.firstSec = s.firstSec;
    cur.firstKb = s.firstKb;
  }
  cur.sumSec += s.sumSec;
  cur.sumSecSq += s.sumSecSq;
  cur.sumKb += s.sumKb;
  cur.sumSecKb += s.sumSecKb;
}

const VERSION = 1;

function uuidBytes(id: string): Buffer {
  return Buffer.from(id.replaceAll('-', ''), 'hex');
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Packs a bucket's aggregates column by column (each value relative to the floor where that
 * keeps it small), then raw-deflates.
 */
export function encodeAggregates(entries: readonly ProcessAggregate[]): Uint8Array {
  const boots = [...new Set(entries.map((e) => e.bootId))].sort();
  const bootIdx = new Map(boots.map((b, i) => [b, i]));
  const sorted = [...entries].sort(
    (a, b) =>
      (bootIdx.get(a.bootId) as number) - (bootIdx.get(b.bootId) as number) ||
      a.pid - b.pid ||
      a.startTicks - b.startTicks,
  );
  const w = new ByteWriter(64 + sorted.length * 64);
  w.uint(VERSION);
  w.uint(boots.length);
  for (const b of boots) w.bytes(uuidBytes(b));
  w.uint(sorted.length);
  for (const e of sorted) w.uint(bootIdx.get(e.bootId) as number);
  let prev = 0;
  for (const e of sorted) {
    w.sint(e.pid - prev);
    prev = e.pid;
  }
  for (const e of sorted) w.uint(e.startTicks);
  for (const e of sorted) {
    let mask = 0;
    METRICS.forEach((m, i) => {
      if (e.metrics[m]) mask |= 1 << i;
    });
    w.uint(mask);
  }
  for (const m of METRICS) {
    const present = sorted.map((e) => e.metrics[m]).filter((a) => a !== undefined);
    for (const a of present) w.uint(a.n);
    for (const a of present) w.uint(a.minKb);
    for (const a of present) w.uint(a.maxKb - a.minKb);
    for (const a of present) w.uint(a.firstKb - a.minKb);
    for (const a of present) w.uint(a.lastKb - a.minKb);
    for (const a of present) w.uint(a.firstSec);
    for (const a of present) w.uint(a.lastSec - a.firstSec);
    for (const a of present) w.uint(a.sumSec);
    for (const a of present) w.uint(a.sumSecSq);
    for (const a of present) w.uint(a.sumKb - a.n * a.minKb);
    for (const a of present) w.uint(a.sumSecKb - a.minKb * a.sumSec);
  }
  return deflateRawSync(w.finish(), { level: 6 });
}

/** Decodes a bucket; metrics not in `wanted` are skipped without building objects. */
export function decodeAggregates(
  data: Uint8Array,
  wanted: readonly Metric[] = METRICS,
): ProcessAggregate[] {
  const r = new ByteReader(inflateRawSync(data));
  const version = r.uint();
  if (version !== VERSION) throw new Error(`aggregate block version ${version} is not supported`);
  const boots: string[] = [];
  const nBoots = r.uint();
  for (let i = 0; i < nBoots; i++) boots.push(uuidString(r.bytes(16)));
  const n = r.uint();
  const out: ProcessAggregate[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ bootId: boots[r.uint()] as string, pid: 0, startTicks: 0, metrics: {} });
  }
  let pid = 0;
  for (const e of out) {
    pid += r.sint();
    e.pid = pid;
  }
  for (const e of out) e.startTicks = r.uint();
  const masks = out.map(() => r.uint());
  METRICS.forEach((m, bit) => {
    const present = out.filter((_, i) => (masks[i] as number) & (1 << bit));
    if (!wanted.includes(m)) {
      r.skip(present.length * 11);
      return;
    }
    // one object literal with every field: a single hidden class, no reshaping while filling
    const aggs = present.map(
      (): MetricAggregate => ({
        n: 0,
        minKb: 0,
        maxKb: 0,
        firstKb: 0,
        lastKb: 0,
        firstSec: 0,
        lastSec: 0,
        sumSec: 0,
        sumSecSq: 0,
        sumKb: 0,
        sumSecKb: 0,
      }),
    );
    for (const a of aggs) a.n = r.uint();
    for (const a of aggs) a.minKb = r.uint();
    for (const a of aggs) a.maxKb = a.minKb + r.uint();
    for (const a of aggs) a.firstKb = a.minKb + r.uint();
    for (const a of aggs) a.lastKb = a.minKb + r.uint();
    for (const a of aggs) a.firstSec = r.uint();
    for (const a of aggs) a.lastSec = a.firstSec + r.uint();
    for (const a of aggs) a.sumSec = r.uint();
    for (const a of aggs) a.sumSecSq = r.uint();
    for (const a of aggs) a.sumKb = a.n * a.minKb + r.uint();
    for (const a of aggs) a.sumSecKb = a.minKb * a.sumSec + r.uint();
    present.forEach((e, i) => {
      e.metrics[m] = aggs[i] as MetricAggregate;
    });
  });
  return out;
}
