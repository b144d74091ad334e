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
  let i = hexEnd(text, s, e, MAX_HEX_DIGITS);
  if (i <= s || text.charCodeAt(i) !== 45) return badMapLine(text, s, e, file, line, 'start');
  const start = text.slice(s, i);
  const endStart = i + 1;
  i = hexEnd(text, endStart, e, MAX_HEX_DIGITS);
  if (i <= endStart || text.charCodeAt(i) !== 32) return badMapLine(text, s, e, file, line, 'end');
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
    return badMapLine(text, s, e, file, line, 'permissions');
  }
  const perms = text.slice(p, p + 4);
  const offStart = p + 5;
  i = hexEnd(text, offStart, e, MAX_HEX_DIGITS);
  if (i <= offStart || text.charCodeAt(i) !== 32) {
    return badMapLine(text, s, e, file, line, 'offset');
  }
  const offset = text.slice(offStart, i);
  const devStart = i + 1;
  i = hexEnd(text, devStart, e, MAX_DEV_DIGITS);
  if (i <= devStart || text.charCodeAt(i) !== 58)
    return badMapLine(text, s, e, file, line, 'device');
  const minorStart = i + 1;
  i = hexEnd(text, minorStart, e, MAX_DEV_DIGITS);
  if (i <= minorStart || text.charCodeAt(i) !== 32) {
    return badMapLine(text, s, e, file, line, 'device');
  }
  const dev = text.slice(devStart, i);
  const inoStart = i + 1;
  i = inoStart;
  while (i < e) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  if (i === inoStart || i - inoStart > MAX_INODE_DIGITS || (i < e && text.charCodeAt(i) !== 32)) {
    return badMapLine(text, s, e, file, line, 'inode');
  }
  const inode = text.slice(inoStart, i);
  while (i < e && text.charCodeAt(i) === 32) i++;
  const path = i < e ? text.slice(i, e) : '';
  return { start, end, perms, offset, dev, inode, path, line };
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
  const len = text.length;
  let s = 0;
  let line = 1;
  while (s < len) {
    let e = text.indexOf('\n', s);
    if (e < 0) e = len;
    out.push(parseMapLine(text, s, e, file, line));
    s = e + 1;
    line++;
  }
  return out;
}
