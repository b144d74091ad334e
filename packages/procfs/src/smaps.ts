import { ProcfsParseError, quoteInput } from './errors.ts';
import { looksLikeMapLine, parseMapLine } from './maps.ts';
import type { SmapsEntry } from './model.ts';

// /proc/PID/smaps: a mapping line (as in maps) followed by `Key:   N kB` lines, other
// `Key: value` lines (THPeligible, ProtectionKey, fields of newer kernels) and `VmFlags: ...`.
// See Documentation/filesystems/proc.rst. Keys are not hard-coded: every kernel adds some.
//
// Hot path: nearly every entry of a file repeats the previous entry's key layout, so each key line
// is first matched in place against the previous layout (startsWith at an offset, no allocation)
// and the previous entry's fieldOrder array is reused.

const MAX_KEY_LENGTH = 64;
const EMPTY_ORDER: readonly string[] = Object.freeze([]);

/**
 * Incremental smaps parser: feed it text in chunks of any size (lines may span chunks), then call
 * `end()`. Entries are handed to `onEntry` as soon as they are complete, so a caller that
 * aggregates need not hold the whole file or every entry.
 */
export class SmapsParser {
  readonly file: string;
  private readonly onEntry: (entry: SmapsEntry) => void;
  private line = 0;
  private carry = '';
  private cur: SmapsEntry | null = null;
  private layout: readonly string[] = EMPTY_ORDER;
  private nKeys = 0;
  private diverged: string[] | null = null;

  constructor(file: string, onEntry: (entry: SmapsEntry) => void) {
    this.file = file;
    this.onEntry = onEntry;
  }

  /** Parses every complete line of `chunk`; a trailing partial line waits for the next chunk. */
  write(chunk: string): void {
    let s = 0;
    const len = chunk.length;
    if (this.carry.length > 0) {
      const nl = chunk.indexOf('\n');
      if (nl < 0) {
        this.carry += chunk;
        return;
      }
      const joined = this.carry + chunk.slice(0, nl);
      this.carry = '';
      this.parseLine(joined, 0, joined.length);
      s = nl + 1;
    }
    while (s < len) {
      const e = chunk.indexOf('\n', s);
      if (e < 0) {
        this.carry = chunk.slice(s);
        return;
      }
      this.parseLine(chunk, s, e);
      s = e + 1;
    }
  }

  /** Flushes a final line without a newline and the last entry. */
  end(): void {
    if (this.carry.length > 0) {
      const last = this.carry;
      this.carry = '';
      this.parseLine(last, 0, last.length);
    }
    this.finishEntry();
  }

  private parseLine(text: string, s: number, e: number): void {
    const line = ++this.line;
    if (looksLikeMapLine(text, s, e)) {
      this.finishEntry();
      const m = parseMapLine(text, s, e, this.file, line);
      this.cur = {
        start: m.start,
        end: m.end,
        perms: m.perms,
        offset: m.offset,
        dev: m.dev,
        inode: m.inode,
        path: m.path,
        line,
        kb: {},
        extra: {},
        fieldOrder: EMPTY_ORDER,
        vmFlags: null,
      };
      return;
    }
    const entry = this.cur;
    if (entry === null) {
      throw new ProcfsParseError(
        this.file,
        line,
        `expected a mapping line, got ${quoteInput(text.slice(s, e))}`,
      );
    }
    let key: string;
    let v: number;
    const n = this.nKeys;
    const expected = this.diverged === null ? this.layout[n] : undefined;
    if (
      expected !== undefined &&
      text.startsWith(expected, s) &&
      text.charCodeAt(s + expected.length) === 58
    ) {
      key = expected;
      v = s + expected.length + 1;
    } else {
      const colon = scanKey(text, s, e);
      if (colon < 0) {
        throw new ProcfsParseError(
          this.file,
          line,
          `expected a mapping line or "Key: value", got ${quoteInput(text.slice(s, e))}`,
        );
      }
      key = text.slice(s, colon);
      v = colon + 1;
      if (key === 'VmFlags') {
        if (entry.vmFlags !== null) this.duplicate(key, line);
        entry.vmFlags = splitFlags(text, v, e);
        return;
      }
      if (key === '__proto__') {
        throw new ProcfsParseError(this.file, line, 'reserved field name "__proto__"');
      }
      if (Object.hasOwn(entry.kb, key) || Object.hasOwn(entry.extra, key)) {
        this.duplicate(key, line);
      }
      if (this.diverged === null) this.diverged = this.layout.slice(0, n);
      this.diverged.push(key);
    }
    this.nKeys = n + 1;
    while (v < e && text.charCodeAt(v) === 32) v++;
    // `N kB`: digits, one space, "kB", end of line.
    let i = v;
    let num = 0;
    while (i < e) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      num = num * 10 + (c - 48);
      i++;
    }
    if (i - v > 15) {
      // 10^15 kB is beyond any real size and beyond exact doubles a few digits later.
      throw new ProcfsParseError(this.file, line, `value of ${quoteInput(key)} out of range`);
    }
    if (
      i > v &&
      i + 3 === e &&
      text.charCodeAt(i) === 32 &&
      text.charCodeAt(i + 1) === 107 &&
      text.charCodeAt(i + 2) === 66
    ) {
      entry.kb[key] = num;
    } else {
      let t = e;
      while (t > v && isBlank(text.charCodeAt(t - 1))) t--;
      entry.extra[key] = text.slice(v, t);
    }
  }

  private finishEntry(): void {
    const entry = this.cur;
    if (entry === null) return;
    if (this.diverged !== null) {
      this.layout = this.diverged;
    } else if (this.nKeys !== this.layout.length) {
      this.layout = this.layout.slice(0, this.nKeys);
    }
    entry.fieldOrder = this.layout;
    this.diverged = null;
    this.nKeys = 0;
    this.cur = null;
    this.onEntry(entry);
  }

  private duplicate(key: string, line: number): never {
    throw new ProcfsParseError(this.file, line, `field ${quoteInput(key)} repeated in one entry`);
  }
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** Index of the `:` ending a well-formed key at `s`, or -1. Keys are printable and space-free. */
function scanKey(text: string, s: number, e: number): number {
  const limit = Math.min(e, s + MAX_KEY_LENGTH + 1);
  for (let i = s; i < limit; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) return i > s ? i : -1;
    if (c <= 32 || c >= 127) return -1;
  }
  return -1;
}

function splitFlags(text: string, s: number, e: number): string[] {
  const flags: string[] = [];
  let i = s;
  while (i < e) {
    while (i < e && isBlank(text.charCodeAt(i))) i++;
    const t = i;
    while (i < e && !isBlank(text.charCodeAt(i))) i++;
    if (i > t) flags.push(text.slice(t, i));
  }
  return flags;
}

/**
 * Parses a whole /proc/PID/smaps text (latin1-decoded). `file` names the source in errors. An
 * empty text (kernel thread, zombie) gives an empty array.
 */
export function parseSmaps(text: string, file: string): SmapsEntry[] {
  const out: SmapsEntry[] = [];
  const parser = new SmapsParser(file, (entry) => {
    out.push(entry);
  });
  parser.write(text);
  parser.end();
  return out;
}
