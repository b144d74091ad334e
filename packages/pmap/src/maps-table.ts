// pmap's default, -x (--extended) and -d (--device) layouts. They read a maps/smaps text line by
// line with sscanf("%lx-%lx %31s %llx %x:%x %llu"); fields that fail to convert keep the previous
// line's values, and the 4-character permission buffer is reused from line to line, so state is
// carried between lines exactly as pmap carries it.

import {
  cString,
  hex0,
  padEnd,
  padStart,
  scanUnsigned,
  scanWord,
  signedDecimal,
  skipSpace,
  UINT_MAX,
} from './c-scan.ts';
import { headerLine } from './command.ts';
import { splitLines } from './lines.ts';
import type { PmapOptions, PmapProcess } from './options.ts';
import { type SortableRow, type SortKey, sortRows } from './row-sort.ts';

const MASK64 = (1n << 64n) - 1n;

/** Column names --sort accepts for each of these layouts. */
export const MAPS_SORT_FIELDS: Readonly<Record<'default' | 'extended' | 'device', string[]>> = {
  default: ['address', 'kbytes', 'mode', 'mapping'],
  extended: ['address', 'kbytes', 'rss', 'dirty', 'mode', 'mapping'],
  device: ['address', 'kbytes', 'mode', 'offset', 'device', 'mapping'],
};

interface LineFields {
  start: bigint;
  end: bigint;
  /** pmap's 32-byte perms buffer: a %31s conversion writes its text and a NUL, nothing more. */
  perms: string[];
  offset: bigint;
  major: number;
  minor: number;
  inode: bigint;
}

function freshFields(): LineFields {
  return {
    start: 0n,
    end: 0n,
    perms: Array(32).fill('\0'),
    offset: 0n,
    major: 0,
    minor: 0,
    inode: 0n,
  };
}

// sscanf(line, "%lx-%lx %31s %llx %x:%x %llu", ...) updating only the fields that convert.
function scanMapLine(line: string, f: LineFields): void {
  const start = scanUnsigned(line, 0, 16);
  if (!start) return;
  f.start = start.value;
  if (line[start.end] !== '-') return;
  const end = scanUnsigned(line, start.end + 1, 16);
  if (!end) return;
  f.end = end.value;
  const perms = scanWord(line, skipSpace(line, end.end), 31);
  if (!perms) return;
  for (let i = 0; i < perms.value.length; i++) f.perms[i] = perms.value[i] ?? '\0';
  f.perms[perms.value.length] = '\0';
  const offset = scanUnsigned(line, perms.end, 16);
  if (!offset) return;
  f.offset = offset.value;
  const major = scanUnsigned(line, offset.end, 16);
  if (!major) return;
  f.major = Number(major.value & UINT_MAX);
  if (line[major.end] !== ':') return;
  const minor = scanUnsigned(line, major.end + 1, 16);
  if (!minor) return;
  f.minor = Number(minor.value & UINT_MAX);
  const inode = scanUnsigned(line, minor.end, 10);
  if (!inode) return;
  f.inode = inode.value;
}

// "%20[^:]: %llu" on a key line; null unless both convert.
function scanKeyLine(line: string): { key: string; value: bigint } | null {
  let i = 0;
  while (i < line.length && i < 20 && line[i] !== ':') i++;
  if (i === 0 || line[i] !== ':') return null;
  const value = scanUnsigned(line, i + 1, 10);
  if (!value) return null;
  return { key: line.slice(0, i), value: value.value };
}

// isprint() is false for every byte outside 0x20..0x7e in the C and C.UTF-8 locales.
function sanitize(line: string): string {
  return line.replace(/[^\x20-\x7e]/g, '?');
}

/** The mapping name of the default, -x and -d layouts: a C string, or an offset into the line. */
type MappingName = { label: string } | { offset: number };

function mappingName(
  line: string,
  f: LineFields,
  size: bigint,
  proc: PmapProcess,
  opts: PmapOptions,
): MappingName {
  if (f.major === 0 && f.minor === opts.shmMinor && line.includes('/SYSV')) {
    return { label: `  [ shmid=0x${f.inode.toString(16)} ]` };
  }
  const last = line.lastIndexOf('/');
  if (last >= 0) {
    if (opts.showPath) return { offset: line.indexOf('/') };
    return { offset: last + 1 < line.length ? last + 1 : last };
  }
  const stack = proc.startStack;
  if (stack >= f.start && stack <= ((f.start + size) & MASK64)) return { label: '  [ stack ]' };
  return { label: '  [ anon ]' };
}

/**
 * In -x mode pmap keeps a pointer into its line buffer and prints it only when the mapping's
 * `Swap:` line arrives, by which time the key lines read since have overwritten the start of the
 * buffer. With kernel lines the name sits far beyond what the short key lines reach; this
 * reproduces the buffer for the lines where it does not.
 */
function nameFromBuffer(mappingLine: string, later: readonly string[], offset: number): string {
  // Each later line wrote its text, a newline and a NUL over the start of the buffer.
  if (later.every((l) => l.length + 2 <= offset)) return cString(mappingLine, offset);
  let buf = `${mappingLine}\0`;
  for (const l of later) {
    const written = `${l}\n\0`;
    buf = written.length >= buf.length ? written : written + buf.slice(written.length);
  }
  return cString(buf, offset);
}

/**
 * Renders one process in the default, -x or -d layout (header line included). Returns pmap's
 * per-process status: 0, or 1 when the map file could not be opened.
 */
export function renderMapsTable(
  proc: PmapProcess,
  opts: PmapOptions,
  out: (text: string) => void,
): number {
  out(headerLine(proc.tgid, proc.command));
  if (proc.mapText === null) return 1;
  const mode = opts.mode === 'extended' || opts.mode === 'device' ? opts.mode : 'default';
  if (!opts.quiet) {
    if (mode === 'extended') out('Address           Kbytes     RSS   Dirty Mode  Mapping\n');
    if (mode === 'device')
      out('Address           Kbytes Mode  Offset           Device    Mapping\n');
  }

  const rows: SortableRow[] | null = opts.sort === undefined ? null : [];
  const emit = (text: string, keys: () => Map<string, SortKey>): void => {
    if (rows) rows.push({ text, keys: keys() });
    else out(text);
  };

  const f = freshFields();
  let shared = 0n;
  let privateWriteable = 0n;
  let privateReadonly = 0n;
  let totalRss = 0n;
  let totalDirty = 0n;
  // -x state for the mapping whose Swap: line is awaited.
  let rss = 0n;
  let sharedDirty = 0n;
  let privateDirty = 0n;
  let size = 0n;
  let pending: { name: MappingName; line: string; later: string[] } | null = null;

  for (const line of splitLines(proc.mapText)) {
    pending?.later.push(line);
    const first = line.charCodeAt(0);
    if (first >= 65 && first <= 90) {
      const kv = scanKeyLine(line);
      if (!kv) continue;
      if (kv.key === 'Rss') {
        rss = kv.value;
        totalRss = (totalRss + kv.value) & MASK64;
      } else if (kv.key === 'Shared_Dirty') {
        sharedDirty = kv.value;
        totalDirty = (totalDirty + kv.value) & MASK64;
      } else if (kv.key === 'Private_Dirty') {
        privateDirty = kv.value;
        totalDirty = (totalDirty + kv.value) & MASK64;
      } else if (kv.key === 'Swap') {
        if (pending) {
          const name =
            'label' in pending.name
              ? pending.name.label
              : nameFromBuffer(pending.line, pending.later, pending.name.offset);
          const perms = cString(f.perms.join(''));
          const dirty = (sharedDirty + privateDirty) & MASK64;
          const kb = size >> 10n;
          const start = f.start;
          const rssNow = rss;
          emit(
            `${hex0(start, 16)} ${padStart(kb.toString(), 7)} ${padStart(rssNow.toString(), 7)} ${padStart(dirty.toString(), 7)} ${padStart(perms, 5)} ${name}\n`,
            () =>
              new Map<string, SortKey>([
                ['address', start],
                ['kbytes', kb],
                ['rss', rssNow],
                ['dirty', dirty],
                ['mode', perms],
                ['mapping', name],
              ]),
          );
        }
        rss = 0n;
        sharedDirty = 0n;
        privateDirty = 0n;
        size = 0n;
        f.end = 0n;
        f.perms[0] = '\0';
        pending = null;
      }
      continue;
    }

    scanMapLine(line, f);
    if (((f.end - 1n) & MASK64) < opts.range.low) continue;
    if (opts.range.high < f.start) break;
    const clean = sanitize(line);
    size = (f.end - f.start) & MASK64;
    if (f.perms[3] === 's') shared = (shared + size) & MASK64;
    if (f.perms[3] === 'p') {
      f.perms[3] = '-';
      if (f.perms[1] === 'w') privateWriteable = (privateWriteable + size) & MASK64;
      else privateReadonly = (privateReadonly + size) & MASK64;
    }
    f.perms[4] = '-';
    f.perms[5] = '\0';
    const name = mappingName(clean, f, size, proc, opts);

    if (mode === 'extended') {
      pending = { name, line: clean, later: [] };
      continue;
    }
    const text = 'label' in name ? name.label : cString(clean, name.offset);
    const perms = cString(f.perms.join(''));
    const kb = size >> 10n;
    const start = f.start;
    if (mode === 'device') {
      const offset = f.offset;
      const device = `${f.major.toString(16).padStart(3, '0')}:${f.minor.toString(16).padStart(5, '0')}`;
      emit(
        `${hex0(start, 16)} ${padStart(kb.toString(), 7)} ${padStart(perms, 5)} ${hex0(offset, 16)} ${device} ${text}\n`,
        () =>
          new Map<string, SortKey>([
            ['address', start],
            ['kbytes', kb],
            ['mode', perms],
            ['offset', offset],
            ['device', device],
            ['mapping', text],
          ]),
      );
    } else {
      emit(
        `${hex0(start, 16)} ${padStart(kb.toString(), 6)}K ${perms} ${text}\n`,
        () =>
          new Map<string, SortKey>([
            ['address', start],
            ['kbytes', kb],
            ['mode', perms],
            ['mapping', text],
          ]),
      );
    }
  }

  if (rows && opts.sort !== undefined) {
    sortRows(rows, opts.sort, MAPS_SORT_FIELDS[mode]);
    for (const r of rows) out(r.text);
  }

  if (!opts.quiet) {
    const total = ((shared + privateWriteable + privateReadonly) & MASK64) >> 10n;
    if (mode === 'extended') {
      out('---------------- ------- ------- ------- \n');
      out(
        `${padEnd('total kB', 16)} ${padStart(signedDecimal(total), 7)} ${padStart(totalRss.toString(), 7)} ${padStart(totalDirty.toString(), 7)}\n`,
      );
    } else if (mode === 'device') {
      out(
        `mapped: ${signedDecimal(total)}K    writeable/private: ${signedDecimal(privateWriteable >> 10n)}K    shared: ${signedDecimal(shared >> 10n)}K\n`,
      );
    } else {
      out(` total ${padStart(signedDecimal(total), 16)}K\n`);
    }
  }
  return 0;
}
