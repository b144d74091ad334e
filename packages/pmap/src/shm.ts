// SysV shared memory is labelled `[ shmid=0x… ]` when a mapping's device is 0:<shm minor>. pmap
// finds that minor by attaching a segment of its own and looking at its own maps; Node cannot
// attach SysV segments, so the minor is recovered from the target's own mappings instead: a
// shared `/SYSV…` mapping on major 0 whose inode is a live shmid (/proc/sysvipc/shm) shows it.
// Failing that, minor 1 is what current kernels use (see docs/pmap-compat.md).

import { splitLines } from './lines.ts';

export const DEFAULT_SHM_MINOR = 1;

/** The shmid column of /proc/sysvipc/shm. */
export function parseSysvShmIds(text: string): Set<string> {
  const ids = new Set<string>();
  for (const line of splitLines(text).slice(1)) {
    const id = line.trim().split(/\s+/)[1];
    if (id !== undefined && /^\d+$/.test(id)) ids.add(BigInt(id).toString());
  }
  return ids;
}

const SHM_LINE = /^[0-9a-f]+-[0-9a-f]+ \S\S\Ss [0-9a-f]+ 0+:([0-9a-f]+) (\d+) .*\/SYSV/;

/** The minor of the first live SysV segment mapped in `mapText`, or null. */
export function findShmMinor(mapText: string, liveShmIds: ReadonlySet<string>): number | null {
  if (liveShmIds.size === 0 || !mapText.includes('/SYSV')) return null;
  for (const line of splitLines(mapText)) {
    const m = SHM_LINE.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined && liveShmIds.has(BigInt(m[2]).toString())) {
      return Number.parseInt(m[1], 16);
    }
  }
  return null;
}
