// The text after `PID:   ` in pmap's header line, built the way libproc2 4.0.2 builds its
// "cmdline" item: /proc/PID/cmdline flattened and escaped, or `[comm]` (plus ` <defunct>` for a
// zombie) when cmdline is empty. All strings are byte strings (one JS char per byte).

/** libproc2 reads cmdline into a 128 KiB buffer and keeps one byte for the terminating NUL. */
export const CMDLINE_BUFFER_BYTES = 131072;

// Length of a UTF-8 sequence judged from its lead byte only (continuation bytes are not checked,
// exactly like libproc2's table); -1 marks a byte that cannot start a sequence.
function utf8SequenceLength(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0xc2) return -1;
  if (c < 0xe0) return 2;
  if (c < 0xf0) return 3;
  if (c < 0xf5) return 4;
  return -1;
}

// The "C way": control characters and DEL become '.', bytes >= 0x80 become '?'.
function escapeAllBytes(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) out += '?';
    else if (c < 0x20 || c === 0x7f) out += '.';
    else out += s[i];
  }
  return out;
}

/**
 * libproc2's escape_str: with a UTF-8 codeset, 1-byte control characters become '?', multi-byte
 * sequences are kept, and from the first byte that cannot start a sequence (or whose sequence runs
 * past the end) the rest is escaped the C way; with any other codeset everything is escaped the C
 * way. The input ends at its first NUL and is cut to `limit - 1` bytes first.
 */
export function escapeString(raw: string, utf8: boolean, limit = CMDLINE_BUFFER_BYTES): string {
  let s = raw;
  const nul = s.indexOf('\0');
  if (nul >= 0) s = s.slice(0, nul);
  if (s.length > limit - 1) s = s.slice(0, limit - 1);
  if (!utf8) return escapeAllBytes(s);
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    const n = utf8SequenceLength(c);
    if (n < 0 || i + n > s.length) return out + escapeAllBytes(s.slice(i));
    if (n === 1 && (c < 0x20 || c === 0x7f)) out += '?';
    else out += s.slice(i, i + n);
    i += n;
  }
  return out;
}

/**
 * Flattens the bytes read from /proc/PID/cmdline like libproc2's read_unvectored: trailing NULs
 * dropped, inner NULs and newlines turned into spaces, and a final space or newline (a process
 * that overwrote its last NUL) removed. `raw` is what a read of up to CMDLINE_BUFFER_BYTES bytes
 * returned; a full buffer keeps only CMDLINE_BUFFER_BYTES - 1 bytes.
 */
export function flattenCmdline(raw: string): string {
  let n = raw.length;
  if (n >= CMDLINE_BUFFER_BYTES) n = CMDLINE_BUFFER_BYTES - 1;
  if (n === 0) return '';
  let end = n;
  while (end > 0 && raw.charCodeAt(end - 1) === 0) end--;
  let text = raw.slice(0, end).replace(/[\0\n]/g, ' ');
  // The last byte read, after the conversion above, decides; a trailing NUL never counts.
  if (end === n && (raw[n - 1] === ' ' || raw[n - 1] === '\n')) text = text.slice(0, -1);
  return text;
}

/** What pmap needs from /proc/PID/stat. */
export interface PmapStat {
  /** The comm text between the first `(` and the last `)`, escaped and cut to 63 bytes; null if malformed. */
  comm: string | null;
  /** The state letter (`R`, `S`, `Z`, ...). */
  state: string;
  ppid: number;
  /** Field 28, the address of the main thread's stack start. */
  startStack: bigint;
}

/** Parses /proc/PID/stat the way libproc2's stat2proc does, for the fields pmap uses. */
export function parsePmapStat(text: string, utf8: boolean): PmapStat {
  const open = text.indexOf('(');
  if (open < 0) return { comm: null, state: '\0', ppid: 0, startStack: 0n };
  const close = text.lastIndexOf(')');
  if (close < open + 1 || close + 1 >= text.length) {
    return { comm: null, state: '\0', ppid: 0, startStack: 0n };
  }
  // stat2proc copies the name into a 64-byte buffer and escapes it there.
  const comm = escapeString(text.slice(open + 1, close), utf8, 64);
  const rest = text.slice(close + 2);
  const state = rest[0] ?? '\0';
  const fields = rest.slice(1).trim().split(/\s+/);
  const ppid = Number.parseInt(fields[0] ?? '0', 10);
  // After the state come 24 more fields before startstack (stat field 28).
  let startStack = 0n;
  const ss = fields[24];
  if (ss !== undefined && /^\d+$/.test(ss)) startStack = BigInt.asUintN(64, BigInt(ss));
  return { comm, state, ppid: Number.isFinite(ppid) ? ppid : 0, startStack };
}

/** The Tgid of /proc/PID/status as libproc2 reads it (atoi after `Tgid:`), else the pid itself. */
export function tgidFromStatus(statusText: string | null, pid: number): number {
  if (statusText === null) return pid;
  const at = statusText.indexOf('Tgid:');
  if (at < 0) return pid;
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(statusText.slice(at + 5, at + 40));
  return m?.[1] === undefined ? 0 : Number.parseInt(m[1], 10) | 0;
}

/**
 * The header text: the flattened, escaped cmdline, `?` when that is empty, and `[comm]` (with
 * ` <defunct>` for a zombie) when cmdline had no bytes at all (kernel threads, zombies).
 */
export function processCommand(cmdlineRaw: string, stat: PmapStat, utf8: boolean): string {
  if (cmdlineRaw.length > 0) {
    const text = escapeString(flattenCmdline(cmdlineRaw), utf8);
    return text.length > 0 ? text : '?';
  }
  const zombie = stat.state === 'Z';
  // escape_command leaves room for the brackets and the suffix, then escapes the name again.
  const limit = CMDLINE_BUFFER_BYTES - 2 - (zombie ? 10 : 0);
  const name = escapeString(stat.comm ?? '(null)', utf8, limit);
  const text = `[${name}]${zombie ? ' <defunct>' : ''}`;
  return text.length > 0 ? text : '?';
}

/** pmap's `%u:   %s` line that opens every process's output. */
export function headerLine(tgid: number, command: string): string {
  return `${tgid >>> 0}:   ${command}\n`;
}
