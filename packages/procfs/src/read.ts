import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { ProcfsLimitError } from './errors.ts';

/** Default cap for one /proc text file: far above any real smaps, low enough to bound memory. */
export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;

export interface ReadProcTextOptions {
  /** Stop with ProcfsLimitError once the file has more bytes than this. */
  maxBytes?: number;
}

/**
 * Reads a whole /proc file as a latin1 string (one JS char per byte). /proc files report size 0,
 * so this reads until EOF instead of trusting fstat. Errors from the file system (ENOENT when the
 * process has exited, EACCES, ESRCH) are thrown as they are.
 */
export async function readProcText(
  path: string,
  options: ReadProcTextOptions = {},
): Promise<string> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const fh = await open(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1));
        buf.copy(bigger, 0, 0, used);
        buf = bigger;
      }
      const { bytesRead } = await fh.read(buf, used, buf.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
      if (used > maxBytes) throw new ProcfsLimitError(path, maxBytes);
    }
    return buf.toString('latin1', 0, used);
  } finally {
    await fh.close();
  }
}

let scratch = Buffer.allocUnsafe(16 * 1024);

/**
 * Synchronous variant for the small per-process files (stat, status, comm, cgroup, cmdline): the
 * kernel answers them without walking page tables, so a blocking read costs microseconds and saves
 * the thread-pool round trips of the async API.
 */
export function readProcTextSync(path: string, options: ReadProcTextOptions = {}): string {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const fd = openSync(path, 'r');
  try {
    let used = 0;
    for (;;) {
      if (used === scratch.length) {
        const bigger = Buffer.allocUnsafe(Math.min(scratch.length * 2, maxBytes + 1));
        scratch.copy(bigger, 0, 0, used);
        scratch = bigger;
      }
      const n = readSync(fd, scratch, used, scratch.length - used, null);
      if (n === 0) break;
      used += n;
      if (used > maxBytes) throw new ProcfsLimitError(path, maxBytes);
    }
    const text = scratch.toString('latin1', 0, used);
    if (scratch.length > 1024 * 1024) scratch = Buffer.allocUnsafe(16 * 1024);
    return text;
  } finally {
    closeSync(fd);
  }
}

/** Chunk size for streaming big files: large enough that syscalls do not dominate. */
export const STREAM_CHUNK_BYTES = 256 * 1024;

/**
 * Streams a /proc file to `onChunk` as latin1 strings without holding it whole. The next read is
 * issued before `onChunk` runs, so the kernel generates the next chunk (on a libuv thread) while
 * this thread parses the current one. Returns the number of bytes read.
 */
export async function streamProcText(
  path: string,
  onChunk: (chunk: string) => void,
  options: ReadProcTextOptions & { chunkBytes?: number } = {},
): Promise<number> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const fh = await open(path, 'r');
  const size = options.chunkBytes ?? STREAM_CHUNK_BYTES;
  let cur = Buffer.allocUnsafe(size);
  let spare = Buffer.allocUnsafe(size);
  let pending: Promise<{ bytesRead: number }> | null = fh.read(cur, 0, size, null);
  let total = 0;
  try {
    while (pending !== null) {
      const { bytesRead } = await pending;
      pending = null;
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new ProcfsLimitError(path, maxBytes);
      const full = cur;
      cur = spare;
      spare = full;
      pending = fh.read(cur, 0, size, null);
      onChunk(full.toString('latin1', 0, bytesRead));
    }
    return total;
  } finally {
    // A read may still be in flight when onChunk threw; let it settle before closing the fd.
    if (pending !== null) await pending.catch(() => undefined);
    await fh.close();
  }
}
