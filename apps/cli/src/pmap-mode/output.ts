import { writeSync } from 'node:fs';

// glibc's strerror texts for the errors a write to stdout can realistically give.
const STRERROR: Readonly<Record<string, string>> = {
  ENOSPC: 'No space left on device',
  EBADF: 'Bad file descriptor',
  EIO: 'Input/output error',
  EDQUOT: 'Disk quota exceeded',
  EFBIG: 'File too large',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENXIO: 'No such device or address',
  ECONNRESET: 'Connection reset by peer',
};

const FLUSH_BYTES = 64 * 1024;

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) {
    try {
      off += writeSync(fd, data, off, data.length - off);
    } catch (e) {
      // A non-blocking pipe that is full: wait briefly and retry, as a blocking write would.
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
}

/**
 * stdout and stderr the way pmap's stdio uses them: stdout is buffered and written synchronously
 * in blocks; anything written to stderr first flushes stdout (glibc's error() does the same), so
 * the two interleave as they do for pmap when both go to one file. All text is byte strings.
 */
export class PmapOutput {
  private chunks: string[] = [];
  private size = 0;
  /** The first stdout write error; later stdout writes are dropped. */
  writeError: NodeJS.ErrnoException | null = null;
  private readonly stdoutFd: number;
  private readonly stderrFd: number;

  constructor(stdoutFd = 1, stderrFd = 2) {
    this.stdoutFd = stdoutFd;
    this.stderrFd = stderrFd;
  }

  out = (text: string): void => {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= FLUSH_BYTES) this.flush();
  };

  flush(): void {
    if (this.size === 0 && this.chunks.length === 0) return;
    const data = Buffer.from(this.chunks.join(''), 'latin1');
    this.chunks = [];
    this.size = 0;
    if (this.writeError) return;
    try {
      writeAll(this.stdoutFd, data);
    } catch (e) {
      this.writeError = e as NodeJS.ErrnoException;
    }
  }

  /** Writes `pmap: <message>\n` to stderr. */
  warn(message: string): void {
    this.err(`pmap: ${message}\n`);
  }

  err(text: string): void {
    this.flush();
    try {
      writeAll(this.stderrFd, Buffer.from(text, 'latin1'));
    } catch {
      // Nowhere left to report a failing stderr.
    }
  }

  /**
   * Flushes stdout at exit like procps' close_stdout: a write error (other than a closed pipe)
   * is reported as `pmap: write error: <strerror>` and turns the exit status into 1.
   */
  close(status: number): number {
    this.flush();
    const e = this.writeError;
    if (!e || e.code === 'EPIPE') return status;
    const text = e.code ? STRERROR[e.code] : undefined;
    this.err(`pmap: write error${text ? `: ${text}` : ''}\n`);
    return 1;
  }
}
