import { ProcfsParseError } from './errors.ts';
import type { SmapsEntry } from './model.ts';
import { readProcText } from './read.ts';
import { parseSmaps } from './smaps.ts';

/** The protocol's `rollup` object (design/protocol-v1.md), all KiB, plus USS. */
export interface Rollup {
  rssKb: number;
  pssKb: number;
  pssAnonKb: number;
  pssFileKb: number;
  pssShmemKb: number;
  sharedCleanKb: number;
  sharedDirtyKb: number;
  privateCleanKb: number;
  privateDirtyKb: number;
  anonymousKb: number;
  swapKb: number;
  swapPssKb: number;
  lockedKb: number;
  /** Unique set size: Private_Clean + Private_Dirty. */
  ussKb: number;
}

export interface SmapsRollup {
  rollup: Rollup;
  /** The parsed `[rollup]` entry with every field the kernel printed. */
  entry: SmapsEntry;
}

/** Builds the protocol rollup from smaps-style kB fields; absent fields count as 0. */
export function rollupFromKb(kb: Readonly<Record<string, number>>): Rollup {
  const v = (k: string): number => (Object.hasOwn(kb, k) ? (kb[k] ?? 0) : 0);
  return {
    rssKb: v('Rss'),
    pssKb: v('Pss'),
    pssAnonKb: v('Pss_Anon'),
    pssFileKb: v('Pss_File'),
    pssShmemKb: v('Pss_Shmem'),
    sharedCleanKb: v('Shared_Clean'),
    sharedDirtyKb: v('Shared_Dirty'),
    privateCleanKb: v('Private_Clean'),
    privateDirtyKb: v('Private_Dirty'),
    anonymousKb: v('Anonymous'),
    swapKb: v('Swap'),
    swapPssKb: v('SwapPss'),
    lockedKb: v('Locked'),
    ussKb: v('Private_Clean') + v('Private_Dirty'),
  };
}

/**
 * Parses /proc/PID/smaps_rollup: one `[rollup]` header line then smaps fields. Returns null for
 * an empty file (kernel thread, zombie: no address space).
 */
export function parseSmapsRollup(text: string, file: string): SmapsRollup | null {
  const entries = parseSmaps(text, file);
  if (entries.length === 0) return null;
  const entry = entries[0];
  if (entries.length > 1 || entry === undefined) {
    throw new ProcfsParseError(file, entries[1]?.line ?? 0, 'more than one entry in smaps_rollup');
  }
  return { rollup: rollupFromKb(entry.kb), entry };
}

/** Reads and parses `<procRoot>/<pid>/smaps_rollup`. */
export async function readSmapsRollup(
  pid: number | string,
  procRoot = '/proc',
): Promise<SmapsRollup | null> {
  const path = `${procRoot}/${pid}/smaps_rollup`;
  return parseSmapsRollup(await readProcText(path), path);
}
