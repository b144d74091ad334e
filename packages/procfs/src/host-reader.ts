import { readlinkSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { parseCgroup } from './cgroup.ts';
import { type MappingClass, type ProcessRegionTotals, RegionAccumulator } from './classify.ts';
import { type Cmdline, DEFAULT_MAX_CMDLINE_BYTES, parseCmdline, parseComm } from './cmdline.ts';
import { ProcfsLimitError, ProcfsParseError } from './errors.ts';
import type { SmapsEntry } from './model.ts';
import { DEFAULT_MAX_BYTES, readProcTextSync, streamProcText } from './read.ts';
import { parseSmapsRollup, type Rollup } from './rollup.ts';
import { SmapsParser } from './smaps.ts';
import { type ProcStat, parseStat } from './stat.ts';
import { type ProcStatus, parseStatus } from './status.ts';

/**
 * How much to read (ARCHITECTURE.md, "a cost-budgeted collector"): `cheap` = stat, status,
 * cmdline, comm, cgroup, exe; `rollup` adds smaps_rollup; `full` adds smaps.
 */
export type ReadTier = 'cheap' | 'rollup' | 'full';

/** What is known after the cheap files, for choosing a deeper tier per process. */
export interface CheapRead {
  pid: number;
  stat: ProcStat;
  status: ProcStatus;
}

export interface ProcessReadOptions {
  /** Default `/proc`; a fixture tree in tests. */
  procRoot?: string;
  /** A tier, or a choice made per process after its cheap files were read. Default `cheap`. */
  tier?: ReadTier | ((cheap: CheapRead) => ReadTier);
  /** Full tier: keep every parsed entry in `mappings` (default true). False keeps only totals. */
  keepMappings?: boolean;
  /** Full tier: stop reading a smaps larger than this (error ETOOBIG, totals so far kept). */
  maxSmapsBytes?: number;
  /** Full tier: stop after this many mappings (error ETOOBIG). Default unlimited. */
  maxMappings?: number;
}

export interface HostReadOptions extends ProcessReadOptions {
  /** Read only pids for which this returns true (before anything of the process is read). */
  filter?: (pid: number) => boolean;
  /** Stop after this many processes. */
  maxProcesses?: number;
  /** Stops the iteration between two processes. */
  signal?: AbortSignal;
}

export interface ProcessReadError {
  /** errno name (`ENOENT` = exited mid-read, `EACCES`, `ESRCH`), `EPARSE`, `ETOOBIG`, `NOMM`. */
  code: string;
  message: string;
}

export interface ProcessReadResult {
  pid: number;
  /** The tier that was attempted. */
  tier: ReadTier;
  stat?: ProcStat;
  status?: ProcStatus;
  cmdline?: Cmdline;
  comm?: string;
  /** Unified (v2) cgroup path. */
  cgroup?: string;
  /** Target of the exe link, byte string; absent for kernel threads or when not readable. */
  exe?: string;
  kernelThread: boolean;
  rollup?: Rollup;
  /** Full tier, when `keepMappings` is not false: every smaps entry in kernel order. */
  mappings?: SmapsEntry[];
  /** Full tier: the class of each entry of `mappings` (same index). */
  mappingClasses?: MappingClass[];
  /** Full tier: totals per region class, thread stacks and guards. */
  regions?: ProcessRegionTotals;
  mappingCount?: number;
  smapsBytes?: number;
  /** Set when the process could not be fully read; what was read before the failure is kept. */
  error?: ProcessReadError;
  /** Wall time spent reading and parsing this process, ms. */
  readCostMs: number;
}

const SMALL_FILE_MAX = 1024 * 1024;
const YIELD_EVERY = 32;

function toReadError(err: unknown): ProcessReadError {
  if (err instanceof ProcfsParseError || err instanceof ProcfsLimitError) {
    return { code: err.code, message: err.message };
  }
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string') return { code: e.code, message: e.message };
  // Anything else is a bug in this package: let it surface.
  throw err;
}

/**
 * Reads one process. Never throws for per-process conditions (exited, permission denied, kernel
 * thread, malformed text): those come back in `error` with whatever was read before.
 */
export async function readProcess(
  pid: number,
  options: ProcessReadOptions = {},
): Promise<ProcessReadResult> {
  const t0 = performance.now();
  const root = options.procRoot ?? '/proc';
  const dir = `${root}/${pid}`;
  const requested = options.tier ?? 'cheap';
  const result: ProcessReadResult = {
    pid,
    tier: typeof requested === 'string' ? requested : 'cheap',
    kernelThread: false,
    readCostMs: 0,
  };
  try {
    const statPath = `${dir}/stat`;
    const stat = parseStat(readProcTextSync(statPath, { maxBytes: 4096 }), statPath);
    result.stat = stat;
    result.kernelThread = stat.kernelThread;
    const statusPath = `${dir}/status`;
    const status = parseStatus(
      readProcTextSync(statusPath, { maxBytes: SMALL_FILE_MAX }),
      statusPath,
    );
    result.status = status;
    result.comm = parseComm(readProcTextSync(`${dir}/comm`, { maxBytes: 4096 }));
    result.cmdline = parseCmdline(
      readProcTextSync(`${dir}/cmdline`, { maxBytes: DEFAULT_MAX_CMDLINE_BYTES }),
    );
    const cgPath = `${dir}/cgroup`;
    const unified = parseCgroup(
      readProcTextSync(cgPath, { maxBytes: SMALL_FILE_MAX }),
      cgPath,
    ).unified;
    if (unified !== null) result.cgroup = unified;
    if (!stat.kernelThread) {
      try {
        result.exe = readlinkSync(`${dir}/exe`, { encoding: 'latin1' });
      } catch {
        // Unreadable exe (other user, exited, deleted namespace) only loses an optional field.
      }
    }
    const tier = typeof requested === 'string' ? requested : requested({ pid, stat, status });
    result.tier = tier;
    if (tier !== 'cheap') {
      if (stat.kernelThread || !status.hasMm) {
        result.error = {
          code: 'NOMM',
          message: `${dir}: no address space (${stat.kernelThread ? 'kernel thread' : 'zombie'})`,
        };
      } else if (tier === 'rollup') {
        const path = `${dir}/smaps_rollup`;
        const r = parseSmapsRollup(readProcTextSync(path, { maxBytes: SMALL_FILE_MAX }), path);
        if (r === null) result.error = { code: 'NOMM', message: `${path}: empty` };
        else result.rollup = r.rollup;
      } else {
        await readFullMap(dir, stat.startStack, options, result);
      }
    }
  } catch (err) {
    result.error = toReadError(err);
  }
  result.readCostMs = performance.now() - t0;
  return result;
}

export interface MapReadOptions {
  /** Keep every parsed entry in `mappings` (default true). False keeps only the totals. */
  keepMappings?: boolean;
  /** Stop reading a smaps larger than this (error ETOOBIG, totals so far kept). */
  maxSmapsBytes?: number;
  /** Stop after this many mappings (error ETOOBIG). Default unlimited. */
  maxMappings?: number;
}

export interface MapReadResult {
  mappings?: SmapsEntry[];
  mappingClasses?: MappingClass[];
  regions: ProcessRegionTotals;
  mappingCount: number;
  smapsBytes: number;
  error?: ProcessReadError;
}

/**
 * Streams one smaps file (`/proc/PID/smaps`, or any file in that format) into records and region
 * totals without holding its text. `startStack` is stat field 28 (null: only `[stack]` counts as
 * the main stack). Failures come back in `error` next to what was read before them.
 */
export async function readSmapsFile(
  path: string,
  startStack: bigint | null,
  options: MapReadOptions = {},
): Promise<MapReadResult> {
  const keep = options.keepMappings !== false;
  const maxMappings = options.maxMappings ?? Number.POSITIVE_INFINITY;
  const mappings: SmapsEntry[] = [];
  const classes: MappingClass[] = [];
  const acc = new RegionAccumulator(startStack, keep ? (_e, c) => classes.push(c) : null);
  let count = 0;
  let bytes = 0;
  const parser = new SmapsParser(path, (entry) => {
    if (++count > maxMappings) throw new ProcfsLimitError(path, maxMappings);
    if (keep) mappings.push(entry);
    acc.add(entry);
  });
  let error: ProcessReadError | undefined;
  try {
    bytes = await streamProcText(path, (chunk, b) => parser.writeBytes(b, chunk), {
      maxBytes: options.maxSmapsBytes ?? DEFAULT_MAX_BYTES,
    });
    parser.end();
    if (count === 0) error = { code: 'NOMM', message: `${path}: empty (process exited?)` };
  } catch (err) {
    error = toReadError(err);
  }
  const out: MapReadResult = {
    regions: acc.finish(),
    mappingCount: Math.min(count, maxMappings),
    smapsBytes: bytes,
  };
  if (keep) {
    out.mappings = mappings;
    out.mappingClasses = classes;
  }
  if (error !== undefined) out.error = error;
  return out;
}

async function readFullMap(
  dir: string,
  startStack: bigint,
  options: ProcessReadOptions,
  result: ProcessReadResult,
): Promise<void> {
  const r = await readSmapsFile(`${dir}/smaps`, startStack, options);
  result.mappingCount = r.mappingCount;
  result.smapsBytes = r.smapsBytes;
  result.regions = r.regions;
  if (r.mappings !== undefined) result.mappings = r.mappings;
  if (r.mappingClasses !== undefined) result.mappingClasses = r.mappingClasses;
  if (r.error !== undefined) result.error = r.error;
}

/** Numeric entries of the proc root in ascending order. */
export async function listPids(procRoot = '/proc'): Promise<number[]> {
  const names = await readdir(procRoot);
  const pids: number[] = [];
  for (const n of names) {
    if (/^[1-9]\d{0,9}$/.test(n)) pids.push(Number(n));
  }
  return pids.sort((a, b) => a - b);
}

/**
 * Reads every process of the host, one at a time, yielding each result before reading the next:
 * memory stays bounded by the largest single process, never by the host.
 */
export async function* readHost(
  options: HostReadOptions = {},
): AsyncGenerator<ProcessReadResult, void, undefined> {
  const pids = await listPids(options.procRoot ?? '/proc');
  const max = options.maxProcesses ?? Number.POSITIVE_INFINITY;
  let n = 0;
  for (const pid of pids) {
    if (n >= max || options.signal?.aborted) return;
    if (options.filter !== undefined && !options.filter(pid)) continue;
    n++;
    // Reads of small /proc files are synchronous; give timers and I/O a turn now and then.
    if (n % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    yield await readProcess(pid, options);
  }
}
