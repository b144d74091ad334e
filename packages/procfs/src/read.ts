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
