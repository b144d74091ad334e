import { ProcfsParseError, quoteInput } from './errors.ts';
import { emptyMapLineFields, looksLikeMapLine, scanMapLine } from './maps.ts';
import type { SmapsEntry } from './model.ts';

// /proc/PID/smaps: a mapping line (as in maps) followed by `Key:   N kB` lines, other
// `Key: value` lines (THPeligible, ProtectionKey, fields of newer kernels) and `VmFlags: ...`.
// See Documentation/filesystems/proc.rst. Keys are not hard-coded: every kernel adds some.
//
// This runs over every mapping of every process of a host, so the hot path avoids per-line
// allocation and per-character loops:
// - nearly every entry repeats the previous entry's key layout, so each key line is matched in
//   place against the expected key and fieldOrder arrays are shared; lines are scanned as bytes
//   (see maps.ts on why) and only the strings kept are sliced from the text;
// - the line length is predicted from the previous entry, which saves searching for newlines;
// - a `N kB` value is read backwards from the ` kB` suffix;
// - kb/extra objects are built by a per-layout factory returning an object literal. Adding 20+
//   properties one by one with computed keys turns a V8 object into a slow dictionary and cost
//   about ten times more.

const MAX_KEY_LENGTH = 64;
/** Fields per entry; the kernel prints about 25. */
const MAX_FIELDS = 256;
const EMPTY_ORDER: readonly string[] = Object.freeze([]);
const KB_FLAG = 0;
const EXTRA_FLAG = 1;

type Factory<T> = (values: readonly (number | string)[]) => T;

/** The kb/extra split and object factories of one key layout. */
interface Shape {
  order: readonly string[];
  /** `order` as bytes. */
  keyBytes: readonly Uint8Array[];
  /** KB_FLAG or EXTRA_FLAG per key of `order`. */
  kinds: Uint8Array;
  makeKb: Factory<Record<string, number>>;
  makeExtra: Factory<Record<string, string>>;
}

// Shapes are shared across files (every process on a host has the same layouts), bounded so that
// hostile input with ever-new keys cannot grow it without limit.
const SHAPE_CACHE_MAX = 256;
const shapeCache = new Map<string, Shape>();

let codegenAvailable = true;

function makeFactory<T>(keys: readonly string[], slots: readonly number[]): Factory<T> {
  if (codegenAvailable) {
    try {
      // Keys are JSON-quoted (a valid JS string literal for any text) and `__proto__` is refused by
      // the parser, so the generated literal only ever defines plain own data properties.
      const body = keys.map((k, j) => `${JSON.stringify(k)}:v[${slots[j]}]`).join(',');
      return new Function('v', `return {${body}};`) as Factory<T>;
    } catch {
      // --disallow-code-generation-from-strings: build objects key by key instead.
      codegenAvailable = false;
    }
  }
  return (v) => {
    const o: Record<string, number | string> = {};
    for (let j = 0; j < keys.length; j++) o[keys[j] as string] = v[slots[j] as number] as string;
    return o as T;
  };
}

function shapeFor(order: readonly string[], kinds: Uint8Array, n: number): Shape {
  let sig = '';
  for (let i = 0; i < n; i++) sig += `${kinds[i]}${order[i]}\n`;
  const hit = shapeCache.get(sig);
  if (hit !== undefined) return hit;
  const kbKeys: string[] = [];
  const kbSlots: number[] = [];
  const exKeys: string[] = [];
  const exSlots: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = order[i] as string;
    if (kinds[i] === KB_FLAG) {
      kbKeys.push(k);
      kbSlots.push(i);
    } else {
      exKeys.push(k);
      exSlots.push(i);
    }
  }
  const shape: Shape = {
    order,
    keyBytes: order.map(latin1Bytes),
    kinds: kinds.slice(0, n),
    makeKb: makeFactory(kbKeys, kbSlots),
    makeExtra: makeFactory(exKeys, exSlots),
  };
  if (shapeCache.size >= SHAPE_CACHE_MAX) shapeCache.clear();
  shapeCache.set(sig, shape);
  return shape;
}

/** Two-letter lower-case VmFlags are interned: the same few dozen repeat on every entry. */
const flagTable: (string | undefined)[] = new Array(26 * 26).fill(undefined);

function flagString(bytes: Uint8Array, text: string, s: number, e: number): string {
  if (e - s === 2) {
    const a = (bytes[s] as number) - 97;
    const b = (bytes[s + 1] as number) - 97;
    if (a >= 0 && a < 26 && b >= 0 && b < 26) {
      const slot = a * 26 + b;
      let f = flagTable[slot];
      if (f === undefined) {
        f = text.slice(s, e);
        flagTable[slot] = f;
      }
      return f;
    }
  }
  return text.slice(s, e);
}

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
  // The entry being read.
  private readonly map = emptyMapLineFields();
  /** Line number of the current entry's mapping line; 0 before the first one. */
  private mapLine = 0;
  private vmFlags: string[] | null = null;
  private nKeys = 0;
  private readonly values: (number | string)[] = [];
  private readonly kinds = new Uint8Array(MAX_FIELDS);
  /** Line length of each key of `layout` in the previous entry (a guess for the fast path). */
  private readonly lens = new Int32Array(MAX_FIELDS + 1).fill(-1);
  /** Keys of this entry once it stopped following `layout`; null while it follows it. */
  private diverged: string[] | null = null;
  // The layout of the previous entry, expected again.
  private layout: readonly string[] = EMPTY_ORDER;
  /** `layout`'s keys as bytes, for comparing in place. */
  private keyBytes: readonly Uint8Array[] = [];
  private shape: Shape | null = null;

  constructor(file: string, onEntry: (entry: SmapsEntry) => void) {
    this.file = file;
    this.onEntry = onEntry;
  }

  /** Parses every complete line of `chunk`; a trailing partial line waits for the next chunk. */
  write(chunk: string): void {
    this.writeBytes(Buffer.from(chunk, 'latin1'), chunk);
  }

  /**
   * Same as write(), for a chunk the caller has both as bytes and as latin1 text (what a reader
   * has anyway): `bytes` and `chunk` must be the same length, index for index.
   */
  writeBytes(bytes: Uint8Array, chunk: string): void {
    const b = bytes;
    if (b.length !== chunk.length) throw new Error('writeBytes: bytes and text differ in length');
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
      this.parseLine(Buffer.from(joined, 'latin1'), joined, 0, joined.length);
      s = nl + 1;
    }
    const lens = this.lens;
    const values = this.values;
    const kinds = this.kinds;
    while (s < len) {
      // Fast path, a run of `Key: N kB` lines that repeat the previous entry's layout with lines
      // of the same length, with the parser state in locals. For each line the predicted end must
      // be a newline, the key and colon must match in place, and only spaces, digits and " kB"
      // may follow, so a shorter real line can never be taken for a predicted one.
      if (this.diverged === null && this.mapLine !== 0) {
        const layout = this.layout;
        const keyBytes = this.keyBytes;
        const first = this.nKeys;
        let n = first;
        for (;;) {
          const key = layout[n];
          if (key === undefined) break;
          const e = s + (lens[n] as number);
          if (e >= len || (b[e] as number) !== 10) break;
          const v = s + key.length + 1;
          if (b[v - 1] !== 58 || !sameAt(b, s, keyBytes[n] as Uint8Array)) break;
          if (
            (b[e - 1] as number) !== 66 ||
            (b[e - 2] as number) !== 107 ||
            (b[e - 3] as number) !== 32
          ) {
            break;
          }
          let i = e - 4;
          let num = 0;
          let mul = 1;
          while (i >= v) {
            const c = b[i] as number;
            if (c < 48 || c > 57) break;
            num += (c - 48) * mul;
            mul *= 10;
            i--;
          }
          const digits = e - 4 - i;
          if (digits === 0 || digits > 15) break;
          let g = v;
          while (g <= i && (b[g] as number) === 32) g++;
          if (g <= i) break;
          values[n] = num;
          kinds[n] = KB_FLAG;
          n++;
          s = e + 1;
        }
        this.line += n - first;
        this.nKeys = n;
        if (s >= len) return;
      }
      const e = chunk.indexOf('\n', s);
      if (e < 0) {
        this.carry = chunk.slice(s);
        return;
      }
      this.parseLine(b, chunk, s, e);
      s = e + 1;
    }
  }

  /** Flushes a final line without a newline and the last entry. */
  end(): void {
    if (this.carry.length > 0) {
      const last = this.carry;
      this.carry = '';
      this.parseLine(Buffer.from(last, 'latin1'), last, 0, last.length);
    }
    this.finishEntry();
  }

  private parseLine(b: Uint8Array, text: string, s: number, e: number): void {
    const line = ++this.line;
    const n = this.nKeys;
    let key: string | undefined = this.diverged === null ? this.layout[n] : undefined;
    let v: number;
    if (
      key !== undefined &&
      this.mapLine !== 0 &&
      b[s + key.length] === 58 &&
      sameAt(b, s, this.keyBytes[n] as Uint8Array)
    ) {
      v = s + key.length + 1;
    } else {
      if (looksLikeMapLine(b, s, e)) {
        this.finishEntry();
        scanMapLine(b, text, s, e, this.file, line, this.map);
        this.mapLine = line;
        return;
      }
      if (this.mapLine === 0) {
        throw new ProcfsParseError(
          this.file,
          line,
          `expected a mapping line, got ${quoteInput(text.slice(s, e))}`,
        );
      }
      if (b[s + 7] === 58 && sameAt(b, s, VMFLAGS)) {
        if (this.vmFlags !== null) this.duplicate('VmFlags', line);
        this.vmFlags = splitFlags(b, text, s + 8, e);
        return;
      }
      const colon = scanKey(b, s, e);
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
        if (this.vmFlags !== null) this.duplicate(key, line);
        this.vmFlags = splitFlags(b, text, v, e);
        return;
      }
      if (key === '__proto__') {
        throw new ProcfsParseError(this.file, line, 'reserved field name "__proto__"');
      }
      if (this.diverged === null) this.diverged = this.layout.slice(0, n);
      if (this.diverged.includes(key)) this.duplicate(key, line);
      if (n >= MAX_FIELDS) throw new ProcfsParseError(this.file, line, 'too many fields');
      this.diverged.push(key);
    }
    this.nKeys = n + 1;
    this.lens[n] = e - s;
    // `N kB`: optional spaces, digits, " kB", end of line.
    if (
      e - v >= 4 &&
      (b[e - 1] as number) === 66 &&
      (b[e - 2] as number) === 107 &&
      (b[e - 3] as number) === 32
    ) {
      let i = e - 4;
      let num = 0;
      let mul = 1;
      while (i >= v) {
        const c = b[i] as number;
        if (c < 48 || c > 57) break;
        num += (c - 48) * mul;
        mul *= 10;
        i--;
      }
      const digits = e - 4 - i;
      const gap = i + 1 - v;
      if (digits > 0 && (gap === 0 || isSpaceRun(b, v, gap))) {
        if (digits > 15) {
          // 10^15 kB is beyond any real size and beyond exact doubles a few digits later.
          throw new ProcfsParseError(this.file, line, `value of ${quoteInput(key)} out of range`);
        }
        this.values[n] = num;
        this.kinds[n] = KB_FLAG;
        return;
      }
    }
    let from = v;
    while (from < e && isBlank(b[from] as number)) from++;
    let to = e;
    while (to > from && isBlank(b[to - 1] as number)) to--;
    this.values[n] = text.slice(from, to);
    this.kinds[n] = EXTRA_FLAG;
  }

  private finishEntry(): void {
    if (this.mapLine === 0) return;
    const m = this.map;
    const n = this.nKeys;
    if (this.diverged !== null) {
      this.layout = this.diverged;
    } else if (n !== this.layout.length) {
      this.layout = this.layout.slice(0, n);
    }
    let shape = this.shape;
    if (shape === null || shape.order !== this.layout || !sameKinds(shape.kinds, this.kinds)) {
      shape = shapeFor(this.layout, this.kinds, n);
      this.shape = shape;
      // Share one array between entries, and between files, of the same layout.
      this.layout = shape.order;
      this.keyBytes = shape.keyBytes;
    }
    const values = this.values;
    const entry: SmapsEntry = {
      start: m.start,
      end: m.end,
      perms: m.perms,
      offset: m.offset,
      dev: m.dev,
      inode: m.inode,
      path: m.path,
      line: this.mapLine,
      kb: shape.makeKb(values),
      extra: shape.makeExtra(values),
      fieldOrder: shape.order,
      vmFlags: this.vmFlags,
    };
    this.mapLine = 0;
    this.vmFlags = null;
    this.diverged = null;
    this.nKeys = 0;
    this.onEntry(entry);
  }

  private duplicate(key: string, line: number): never {
    throw new ProcfsParseError(this.file, line, `field ${quoteInput(key)} repeated in one entry`);
  }
}

/** Whether `key` (as bytes) occurs in `b` at `at`. */
function sameAt(b: Uint8Array, at: number, key: Uint8Array): boolean {
  for (let i = key.length - 1; i >= 0; i--) {
    if (b[at + i] !== key[i]) return false;
  }
  return true;
}

const VMFLAGS = latin1Bytes('VmFlags');

function latin1Bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

function sameKinds(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isSpaceRun(b: Uint8Array, at: number, len: number): boolean {
  for (let i = at; i < at + len; i++) if (b[i] !== 32) return false;
  return true;
}

function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/** Index of the `:` ending a well-formed key at `s`, or -1. Keys are printable and space-free. */
function scanKey(b: Uint8Array, s: number, e: number): number {
  const limit = Math.min(e, s + MAX_KEY_LENGTH + 1);
  for (let i = s; i < limit; i++) {
    const c = b[i] as number;
    if (c === 58) return i > s ? i : -1;
    if (c <= 32 || c >= 127) return -1;
  }
  return -1;
}

function splitFlags(b: Uint8Array, text: string, s: number, e: number): string[] {
  const flags: string[] = [];
  let i = s;
  while (i < e) {
    while (i < e && isBlank(b[i] as number)) i++;
    const t = i;
    while (i < e && !isBlank(b[i] as number)) i++;
    if (i > t) flags.push(flagString(b, text, t, i));
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
