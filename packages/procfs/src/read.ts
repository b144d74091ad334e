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

/**
 * Chunk size for streaming big files: large enough that syscalls do not dominate, and below V8's
 * large-object threshold (128 KiB) so each decoded chunk string dies young in a scavenge instead
 * of waiting for a full collection.
 */
export const STREAM_CHUNK_BYTES = 64 * 1024;

// Read buffers are reused across files: a host scan opens thousands of files.
const bufferPool: Buffer[] = [];
const POOL_MAX = 8;

function takeBuffer(size: number): Buffer {
  const b = bufferPool.pop();
  return b !== undefined && b.length === size ? b : Buffer.allocUnsafe(size);
}

function giveBuffer(b: Buffer): void {
  if (bufferPool.length < POOL_MAX && b.length === STREAM_CHUNK_BYTES) bufferPool.push(b);
}

/**
 * Streams a /proc file to `onChunk` as latin1 strings of up to `chunkBytes` without holding it
 * whole, and returns the number of bytes read. `onChunk` also gets the same bytes; that view is
 * reused for the next chunk, so it is valid only during the call.
 *
 * Reads are synchronous, with a turn of the event loop between chunks. A seq_file such as smaps
 * returns about one page per read(2) whatever the buffer size, so the async API would cost a
 * thread-pool round trip (and a wake-up of this thread) per 4 KiB; measured, that overhead was
 * larger than the parsing. Gathering a chunk synchronously keeps the kernel floor's syscall
 * pattern, and yielding between chunks keeps the event loop responsive while a big map is read.
 */
export async function streamProcText(
  path: string,
  onChunk: (chunk: string, bytes: Uint8Array) => void,
  options: ReadProcTextOptions & { chunkBytes?: number } = {},
): Promise<number> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const size = options.chunkBytes ?? STREAM_CHUNK_BYTES;
  const fd = openSync(path, 'r');
  const buf = takeBuffer(size);
  let total = 0;
  try {
    let eof = false;
    while (!eof) {
      let used = 0;
      while (used < size) {
        const n = readSync(fd, buf, used, size - used, null);
        if (n === 0) {
          eof = true;
          break;
        }
        used += n;
      }
      if (used === 0) break;
      total += used;
      if (total > maxBytes) throw new ProcfsLimitError(path, maxBytes);
      onChunk(buf.toString('latin1', 0, used), buf.subarray(0, used));
      if (!eof) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return total;
  } finally {
    closeSync(fd);
    giveBuffer(buf);
  }
}
