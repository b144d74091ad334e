import { readProcText } from './read.ts';

/** /proc/PID/cmdline, kept as bytes and in the protocol's one-line form. */
export interface Cmdline {
  /** The file as read (latin1 byte string, NULs included). */
  raw: string;
  /** NUL-separated arguments; the terminating NUL does not start an extra empty argument. */
  args: string[];
  /** Protocol form: NULs turned into spaces, the trailing one removed. Empty for kernel threads. */
  text: string;
}

// cmdline limits: the kernel hands out at most the argv+env area; a process may rewrite it, so
// there is no terminating NUL in that case and the last argument is simply what is there.
export function parseCmdline(raw: string): Cmdline {
  const body = raw.endsWith('\0') ? raw.slice(0, -1) : raw;
  return {
    raw,
    args: raw.length === 0 ? [] : body.split('\0'),
    text: body.replaceAll('\0', ' '),
  };
}

/** /proc/PID/comm without its newline (byte string, at most 64 bytes on current kernels). */
export function parseComm(raw: string): string {
  return raw.endsWith('\n') ? raw.slice(0, -1) : raw;
}

/** Converts a byte string (latin1-decoded /proc text) to a UTF-8 JS string for JSON and the wire. */
export function byteStringToUtf8(bytes: string): string {
  // Invalid sequences become U+FFFD; do this only at an output boundary, never before rendering.
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** A cmdline can be as large as the argument area (up to a quarter of the stack limit). */
export const DEFAULT_MAX_CMDLINE_BYTES = 4 * 1024 * 1024;

export async function readCmdline(pid: number | string, procRoot = '/proc'): Promise<Cmdline> {
  return parseCmdline(
    await readProcText(`${procRoot}/${pid}/cmdline`, { maxBytes: DEFAULT_MAX_CMDLINE_BYTES }),
  );
}

export async function readComm(pid: number | string, procRoot = '/proc'): Promise<string> {
  return parseComm(await readProcText(`${procRoot}/${pid}/comm`, { maxBytes: 4096 }));
}
