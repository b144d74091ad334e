import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Regions, Rollup, StatusSample } from '@fleetpmap/protocol';
import { REGION_CLASSES } from '@fleetpmap/protocol';
import { ByteReader, ByteWriter } from './varint.ts';

/** One process's sample as stored: the counters of every tier the agent read. */
export interface StoredSample {
  pid: number;
  startTicks: number;
  threads: number;
  status: StatusSample;
  rollup?: Rollup;
  regions?: Regions;
  error?: { code: string; message: string };
}

export const STATUS_FIELDS = [
  'vmSizeKb',
  'vmRssKb',
  'rssAnonKb',
  'rssFileKb',
  'rssShmemKb',
  'vmSwapKb',
  'vmDataKb',
  'vmStkKb',
  'vmHwmKb',
] as const satisfies readonly (keyof StatusSample)[];

export const ROLLUP_FIELDS = [
  'rssKb',
  'pssKb',
  'pssAnonKb',
  'pssFileKb',
  'pssShmemKb',
  'sharedCleanKb',
  'sharedDirtyKb',
  'privateCleanKb',
  'privateDirtyKb',
  'anonymousKb',
  'swapKb',
  'swapPssKb',
  'lockedKb',
] as const satisfies readonly (keyof Rollup)[];

export const REGION_FIELDS = [
  'count',
  'sizeKb',
  'rssKb',
  'pssKb',
  'privateDirtyKb',
  'swapKb',
] as const;

const VERSION = 1;
const HAS_BASE = 1;
const HAS_ROLLUP = 2;
const ROLLUP_BASE = 4;
const HAS_REGIONS = 8;
const REGIONS_BASE = 16;
const HAS_ERROR = 32;

/**
 * Packs a snapshot's samples. Layout (before raw deflate): version, count, then column by
 * column — pid deltas, flags, start ticks of processes without a base, each status field, threads,
 * each rollup field, each region field, errors — so that the mostly-zero deltas of one field sit
 * together and deflate to almost nothing. With `base` (a keyframe block of the same host and
 * boot), a process present in it with the same start ticks is stored as differences.
 */
export function encodeSampleBlock(
  samples: readonly StoredSample[],
  base?: ReadonlyMap<number, StoredSample>,
): Uint8Array {
  const sorted = [...samples].sort((a, b) => a.pid - b.pid);
  const bases: (StoredSample | undefined)[] = sorted.map((s) => {
    const b = base?.get(s.pid);
    return b && b.startTicks === s.startTicks ? b : undefined;
  });
  const w = new ByteWriter(64 + sorted.length * 24);
  w.uint(VERSION);
  w.uint(sorted.length);
  let prevPid = 0;
  for (const s of sorted) {
    w.uint(s.pid - prevPid);
    prevPid = s.pid;
  }
  sorted.forEach((s, i) => {
    const b = bases[i];
    let flags = b ? HAS_BASE : 0;
    if (s.rollup) flags |= HAS_ROLLUP | (b?.rollup ? ROLLUP_BASE : 0);
    if (s.regions) flags |= HAS_REGIONS | (b?.regions ? REGIONS_BASE : 0);
    if (s.error) flags |= HAS_ERROR;
    w.uint(flags);
  });
  sorted.forEach((s, i) => {
    if (!bases[i]) w.uint(s.startTicks);
  });
  for (const f of STATUS_FIELDS) {
    sorted.forEach((s, i) => {
      w.sint(s.status[f] - (bases[i]?.status[f] ?? 0));
    });
  }
  sorted.forEach((s, i) => {
    w.sint(s.threads - (bases[i]?.threads ?? 0));
  });
  for (const f of ROLLUP_FIELDS) {
    sorted.forEach((s, i) => {
      if (s.rollup) w.sint(s.rollup[f] - (bases[i]?.rollup?.[f] ?? 0));
    });
  }
  for (const c of REGION_CLASSES) {
    for (const f of REGION_FIELDS) {
      sorted.forEach((s, i) => {
        if (s.regions) w.sint(s.regions[c][f] - (bases[i]?.regions?.[c][f] ?? 0));
      });
    }
  }
  for (const s of sorted) {
    if (s.error) {
      w.string(s.error.code);
      w.string(s.error.message);
    }
  }
  return deflateRawSync(w.finish(), { level: 6 });
}

export function decodeSampleBlock(
  data: Uint8Array,
  base?: ReadonlyMap<number, StoredSample>,
): StoredSample[] {
  const r = new ByteReader(inflateRawSync(data));
  const version = r.uint();
  if (version !== VERSION) throw new Error(`sample block version ${version} is not supported`);
  const n = r.uint();
  const pids: number[] = new Array(n);
  let pid = 0;
  for (let i = 0; i < n; i++) {
    pid += r.uint();
    pids[i] = pid;
  }
  const flags: number[] = new Array(n);
  for (let i = 0; i < n; i++) flags[i] = r.uint();
  const bases: (StoredSample | undefined)[] = new Array(n);
  const out: StoredSample[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const p = pids[i] as number;
    const f = flags[i] as number;
    const b = f & HAS_BASE ? base?.get(p) : undefined;
    if (f & HAS_BASE && !b)
      throw new Error(`sample block refers to pid ${p} missing from its base`);
    bases[i] = b;
    out[i] = {
      pid: p,
      startTicks: b ? b.startTicks : r.uint(),
      threads: 0,
      status: {
        vmSizeKb: 0,
        vmRssKb: 0,
        rssAnonKb: 0,
        rssFileKb: 0,
        rssShmemKb: 0,
        vmSwapKb: 0,
        vmDataKb: 0,
        vmStkKb: 0,
        vmHwmKb: 0,
      },
    };
  }
  for (const field of STATUS_FIELDS) {
    for (let i = 0; i < n; i++) {
      const s = out[i] as StoredSample;
      s.status[field] = r.sint() + (bases[i]?.status[field] ?? 0);
    }
  }
  for (let i = 0; i < n; i++) {
    const s = out[i] as StoredSample;
    s.threads = r.sint() + (bases[i]?.threads ?? 0);
  }
  for (const field of ROLLUP_FIELDS) {
    for (let i = 0; i < n; i++) {
      const f = flags[i] as number;
      if (!(f & HAS_ROLLUP)) continue;
      const s = out[i] as StoredSample;
      s.rollup ??= {} as Rollup;
      const baseValue = f & ROLLUP_BASE ? (bases[i]?.rollup?.[field] ?? 0) : 0;
      s.rollup[field] = r.sint() + baseValue;
    }
  }
  for (const c of REGION_CLASSES) {
    for (const field of REGION_FIELDS) {
      for (let i = 0; i < n; i++) {
        const f = flags[i] as number;
        if (!(f & HAS_REGIONS)) continue;
        const s = out[i] as StoredSample;
        s.regions ??= {} as Regions;
        s.regions[c] ??= {} as Regions[typeof c];
        const baseValue = f & REGIONS_BASE ? (bases[i]?.regions?.[c][field] ?? 0) : 0;
        s.regions[c][field] = r.sint() + baseValue;
      }
    }
  }
  for (let i = 0; i < n; i++) {
    if ((flags[i] as number) & HAS_ERROR) {
      const s = out[i] as StoredSample;
      s.error = { code: r.string(), message: r.string() };
    }
  }
  return out;
}

/** A decoded block indexed by pid, to serve as the base of delta blocks. */
export function indexByPid(samples: readonly StoredSample[]): Map<number, StoredSample> {
  return new Map(samples.map((s) => [s.pid, s]));
}
