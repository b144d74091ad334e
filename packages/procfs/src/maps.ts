import { ProcfsParseError, quoteInput } from './errors.ts';
import type { MapsEntry } from './model.ts';

// Kernel format (fs/proc/task_mmu.c, show_vma_header_prefix):
//   "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then, when the mapping has a name, padding up to
//   column 73 and the name. Anonymous mappings end right after the inode (plus one space).
// Parsing is a hand-written scan because it runs once per mapping on hosts with 10^5 mappings.

const MAX_HEX_DIGITS = 16;
const MAX_DEV_DIGITS = 8;
const MAX_INODE_DIGITS = 20;

/** True when the code unit is 0-9 or a-f (the kernel prints lower-case hex). */
export function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

/** True when the line starting at `s` looks like a mapping line: hex digits then `-`. */
export function looksLikeMapLine(text: string, s: number, e: number): boolean {
  let i = s;
  while (i < e && i - s <= MAX_HEX_DIGITS && isHexDigit(text.charCodeAt(i))) i++;
  return i > s && i < e && text.charCodeAt(i) === 45;
}

function hexEnd(text: string, i: number, e: number, max: number): number {
  const s = i;
  while (i < e && isHexDigit(text.charCodeAt(i))) i++;
  return i - s > max ? -1 : i;
}

function permOk(c: number, allowed: number): boolean {
  return c === 45 || c === allowed;
}

/** The fields of a mapping line, written in place by scanMapLine (no allocation per line). */
export interface MapLineFields {
  start: string;
  end: string;
  perms: string;
  offset: string;
  dev: string;
  inode: string;
  path: string;
}

export function emptyMapLineFields(): MapLineFields {
  return { start: '', end: '', perms: '', offset: '', dev: '', inode: '', path: '' };
}

// Permissions, device numbers and the all-zero offset repeat on nearly every line of a host; they
// are interned so that a scan allocates only what differs per mapping (addresses, paths).
const ZERO_OFFSET = '00000000';
const permsCache = new Map<number, string>();
const devCache = new Map<number, string>();
const DEV_CACHE_MAX = 4096;

function internPerms(text: string, p: number): string {
  const code =
    text.charCodeAt(p) * 16777216 +
    text.charCodeAt(p + 1) * 65536 +
    text.charCodeAt(p + 2) * 256 +
    text.charCodeAt(p + 3);
  let v = permsCache.get(code);
  if (v === undefined) {
    v = text.slice(p, p + 4);
    permsCache.set(code, v);
  }
  return v;
}

function internDev(text: string, s: number, e: number): string {
  if (e - s > 6) return text.slice(s, e);
  let code = 0;
  for (let i = s; i < e; i++) code = code * 256 + text.charCodeAt(i);
  code = code * 8 + (e - s);
  let v = devCache.get(code);
  if (v === undefined) {
    v = text.slice(s, e);
    if (devCache.size >= DEV_CACHE_MAX) devCache.clear();
    devCache.set(code, v);
  }
  return v;
}

/**
 * Parses the mapping line `text[s, e)` (no newline) into `out`. Throws ProcfsParseError naming
 * `file` and `line` when it is not one.
 */
export function scanMapLine(
  text: string,
  s: number,
  e: number,
  file: string,
  line: number,
  out: MapLineFields,
): void {
  let i = hexEnd(text, s, e, MAX_HEX_DIGITS);
  if (i <= s || text.charCodeAt(i) !== 45) badMapLine(text, s, e, file, line, 'start');
  const start = text.slice(s, i);
  const endStart = i + 1;
  i = hexEnd(text, endStart, e, MAX_HEX_DIGITS);
  if (i <= endStart || text.charCodeAt(i) !== 32) badMapLine(text, s, e, file, line, 'end');
  const end = text.slice(endStart, i);
  const p = i + 1;
  if (
    p + 4 >= e ||
    !permOk(text.charCodeAt(p), 114) ||
    !permOk(text.charCodeAt(p + 1), 119) ||
    !permOk(text.charCodeAt(p + 2), 120) ||
    (text.charCodeAt(p + 3) !== 112 && text.charCodeAt(p + 3) !== 115) ||
    text.charCodeAt(p + 4) !== 32
  ) {
    badMapLine(text, s, e, file, line, 'permissions');
  }
  const offStart = p + 5;
  i = hexEnd(text, offStart, e, MAX_HEX_DIGITS);
  if (i <= offStart || text.charCodeAt(i) !== 32) {
    badMapLine(text, s, e, file, line, 'offset');
  }
  const offset =
    i - offStart === 8 && text.startsWith(ZERO_OFFSET, offStart)
      ? ZERO_OFFSET
      : text.slice(offStart, i);
  const devStart = i + 1;
  i = hexEnd(text, devStart, e, MAX_DEV_DIGITS);
  if (i <= devStart || text.charCodeAt(i) !== 58) badMapLine(text, s, e, file, line, 'device');
  const minorStart = i + 1;
  i = hexEnd(text, minorStart, e, MAX_DEV_DIGITS);
  if (i <= minorStart || text.charCodeAt(i) !== 32) {
    badMapLine(text, s, e, file, line, 'device');
  }
  const dev = internDev(text, devStart, i);
  const inoStart = i + 1;
  i = inoStart;
  while (i < e) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  if (i === inoStart || i - inoStart > MAX_INODE_DIGITS || (i < e && text.charCodeAt(i) !== 32)) {
    badMapLine(text, s, e, file, line, 'inode');
  }
  // One-character strings come from V8's single-character cache: inode 0 costs nothing.
  const inode = text.slice(inoStart, i);
  while (i < e && text.charCodeAt(i) === 32) i++;
  out.start = start;
  out.end = end;
  out.perms = internPerms(text, p);
  out.offset = offset;
  out.dev = dev;
  out.inode = inode;
  out.path = i < e ? text.slice(i, e) : '';
}

/**
 * Parses the mapping line `text[s, e)` (no newline). Throws ProcfsParseError naming `file` and
 * `line` when it is not one.
 */
export function parseMapLine(
  text: string,
  s: number,
  e: number,
  file: string,
  line: number,
): MapsEntry {
  const f = emptyMapLineFields();
  scanMapLine(text, s, e, file, line, f);
  return {
    start: f.start,
    end: f.end,
    perms: f.perms,
    offset: f.offset,
    dev: f.dev,
    inode: f.inode,
    path: f.path,
    line,
  };
}

function badMapLine(
  text: string,
  s: number,
  e: number,
  file: string,
  line: number,
  field: string,
): never {
  throw new ProcfsParseError(
    file,
    line,
    `malformed mapping line (bad ${field}): ${quoteInput(text.slice(s, e))}`,
  );
}

/**
 * Parses /proc/PID/maps. `text` is the latin1-decoded file; `file` names it in errors. An empty
 * text (kernel thread, zombie) gives an empty array.
 */
export function parseMaps(text: string, file: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  const f = emptyMapLineFields();
  const len = text.length;
  let s = 0;
  let line = 1;
  while (s < len) {
    let e = text.indexOf('\n', s);
    if (e < 0) e = len;
    scanMapLine(text, s, e, file, line, f);
    out.push({
      start: f.start,
      end: f.end,
      perms: f.perms,
      offset: f.offset,
      dev: f.dev,
      inode: f.inode,
      path: f.path,
      line,
    });
    s = e + 1;
    line++;
  }
  return out;
}
