import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { cliEnvironment } from '../environment.ts';

/** The proc root: /proc, or FLEETPMAP_PROC_ROOT (tests replay captured trees through it). */
export function procRoot(env: Readonly<Record<string, string | undefined>>): string {
  const root = cliEnvironment(env).FLEETPMAP_PROC_ROOT;
  return root !== undefined && root !== '' ? root.replace(/\/+$/, '') || '/' : '/proc';
}

/** Reads at most `limit` bytes of a file as a byte string; null if it cannot be opened. */
export function readPrefix(path: string | Buffer, limit: number): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  const buf = Buffer.allocUnsafe(limit);
  let used = 0;
  try {
    while (used < limit) {
      const n = readSync(fd, buf, used, limit - used, null);
      if (n <= 0) break;
      used += n;
    }
  } catch {
    // Like libproc2: what was read before the error is used.
  } finally {
    closeSync(fd);
  }
  return buf.toString('latin1', 0, used);
}

// /proc/PID/stat and status are a few hundred bytes; this bounds a hostile fixture file.
const SMALL_FILE_LIMIT = 1024 * 1024;

export function readSmall(path: string): string | null {
  return readPrefix(path, SMALL_FILE_LIMIT);
}

/** stat(2) succeeds: how libproc2 decides whether /proc/PID exists. */
export function statable(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Far above any real smaps (about 1.2 KiB per mapping), low enough to bound memory. */
export const MAX_MAP_BYTES = 512 * 1024 * 1024;

/**
 * A whole maps/smaps text; null if it cannot be opened (pmap's status 1) or is larger than
 * MAX_MAP_BYTES. /proc files report size 0, so this reads until EOF.
 */
export function readMapText(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(256 * 1024);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      total += n;
      if (total > MAX_MAP_BYTES) return null;
      chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    }
  } catch {
    // Like pmap's fgets loop: a read error ends the file.
  } finally {
    closeSync(fd);
  }
  return Buffer.concat(chunks, total).toString('latin1');
}
