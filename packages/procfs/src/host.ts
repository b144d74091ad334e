import { readFile } from 'node:fs/promises';
import { ProcfsParseError, quoteInput } from './errors.ts';
import { readProcText } from './read.ts';

/** The protocol's host facts (design/protocol-v1.md, `host`), minus name and labels. */
export interface HostFacts {
  bootId: string;
  kernel: string;
  memTotalKb: number;
  pageSizeKb: number;
  clockTicksPerSec: number;
  /** `btime` of /proc/stat × 1000: when the host booted, ms since the epoch (whole seconds). */
  bootTimeMs: number;
}

// Auxiliary vector keys (include/uapi/linux/auxvec.h). Node has no sysconf(), so page size and
// clock ticks come from the kernel's auxv of the reading process itself.
export const AT_PAGESZ = 6;
export const AT_CLKTCK = 17;

/** Parses a 64-bit little- or big-endian auxv (pairs of u64 key/value ending with AT_NULL). */
export function parseAuxv(
  bytes: Uint8Array,
  file: string,
  littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1,
): Map<number, bigint> {
  if (bytes.length % 16 !== 0) {
    throw new ProcfsParseError(file, 0, `length ${bytes.length} is not a multiple of 16`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<number, bigint>();
  for (let off = 0; off < bytes.length; off += 16) {
    const key = view.getBigUint64(off, littleEndian);
    if (key === 0n) break;
    if (key < 2n ** 32n) out.set(Number(key), view.getBigUint64(off + 8, littleEndian));
  }
  return out;
}

/** Parses /proc/meminfo into KiB values by field name (lines without `kB` keep their count). */
export function parseMeminfo(text: string, file: string): Record<string, number> {
  const out: Record<string, number> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? '';
    if (l === '' && i === lines.length - 1) break;
    const m = /^([^\s:]{1,64}):\s+(\d{1,19})(?: kB)?$/.exec(l);
    if (m === null || m[1] === undefined || m[1] === '__proto__') {
      throw new ProcfsParseError(file, i + 1, `malformed meminfo line ${quoteInput(l)}`);
    }
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * /proc/stat grows with CPUs and interrupts (a few hundred KiB on the largest hosts); the cap
 * only stops a file that is not the kernel's.
 */
export const PROC_STAT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The boot time from /proc/stat's `btime` line (seconds since the epoch, see proc_stat(5)), in
 * ms. The kernel derives it from the current wall clock, so it moves when the clock is set.
 */
export function parseBootTimeMs(text: string, file: string): number {
  const m = /^btime (\d{1,12})$/m.exec(text);
  if (m === null || m[1] === undefined) {
    throw new ProcfsParseError(file, 0, 'no btime line');
  }
  return Number(m[1]) * 1000;
}

/** Reads and parses `<procRoot>/stat` for its boot time. */
export async function readBootTimeMs(procRoot = '/proc'): Promise<number> {
  const path = `${procRoot}/stat`;
  return parseBootTimeMs(await readProcText(path, { maxBytes: PROC_STAT_MAX_BYTES }), path);
}

function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

/**
 * Reads the host facts from a proc root (`<procRoot>/stat` for the boot time). Page size and clock ticks come from `<procRoot>/self/auxv`
 * (in a fixture tree, a copied auxv file).
 */
export async function readHostFacts(procRoot = '/proc'): Promise<HostFacts> {
  const bootPath = `${procRoot}/sys/kernel/random/boot_id`;
  const releasePath = `${procRoot}/sys/kernel/osrelease`;
  const meminfoPath = `${procRoot}/meminfo`;
  const auxvPath = `${procRoot}/self/auxv`;
  const [bootText, releaseText, meminfoText, auxvBytes, bootTimeMs] = await Promise.all([
    readProcText(bootPath, { maxBytes: 4096 }),
    readProcText(releasePath, { maxBytes: 4096 }),
    readProcText(meminfoPath, { maxBytes: 1024 * 1024 }),
    readFile(auxvPath),
    readBootTimeMs(procRoot),
  ]);
  const bootId = firstLine(bootText);
  if (!/^[0-9a-f-]{36}$/.test(bootId)) {
    throw new ProcfsParseError(bootPath, 1, `not a boot id: ${quoteInput(bootId)}`);
  }
  const kernel = firstLine(releaseText);
  if (kernel.length === 0) throw new ProcfsParseError(releasePath, 1, 'empty kernel release');
  const memTotalKb = parseMeminfo(meminfoText, meminfoPath).MemTotal;
  if (memTotalKb === undefined) throw new ProcfsParseError(meminfoPath, 0, 'no MemTotal line');
  const auxv = parseAuxv(auxvBytes, auxvPath);
  const pageSize = auxv.get(AT_PAGESZ);
  const ticks = auxv.get(AT_CLKTCK);
  if (pageSize === undefined || ticks === undefined || pageSize < 1024n || ticks === 0n) {
    throw new ProcfsParseError(auxvPath, 0, 'no AT_PAGESZ / AT_CLKTCK entry');
  }
  return {
    bootId,
    kernel,
    memTotalKb,
    pageSizeKb: Number(pageSize / 1024n),
    clockTicksPerSec: Number(ticks),
    bootTimeMs,
  };
}
