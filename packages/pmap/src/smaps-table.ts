// pmap's -X, -XX and rc-file (-c/-C) layouts: one column per smaps key, widths measured in a first
// pass over the text and rows printed in a second, exactly as pmap 4.0.2 reads smaps twice.
// Values are kept as the kernel's digit strings; nothing is sanitised.
//
// Deliberate difference from 4.0.2 (docs/pmap-compat.md): the column list, totals and widths
// belong to one process; 4.0.2 carries them over from one PID to the next.

import {
  decimalWidth,
  isDecimal,
  isLowerHex,
  padStart,
  scanSet,
  scanWord,
  skipSpace,
  ULONG_MAX,
} from './c-scan.ts';
import { headerLine } from './command.ts';
import { PmapFormatError } from './errors.ts';
import { splitLines } from './lines.ts';
import type { PmapOptions, PmapProcess } from './options.ts';
import { type SortableRow, type SortKey, sortRows } from './row-sort.ts';

const MASK64 = (1n << 64n) - 1n;

/**
 * The per-mapping keys of /proc/PID/smaps, in the kernel's order (fs/proc/task_mmu.c, Linux 6.x;
 * older kernels print fewer). pmap shows one column per key in -X, -XX and the rc layouts.
 */
export const SMAPS_KB_KEYS: readonly string[] = [
  'Size',
  'KernelPageSize',
  'MMUPageSize',
  'Rss',
  'Pss',
  'Pss_Dirty',
  'Shared_Clean',
  'Shared_Dirty',
  'Private_Clean',
  'Private_Dirty',
  'Referenced',
  'Anonymous',
  'KSM',
  'LazyFree',
  'AnonHugePages',
  'ShmemPmdMapped',
  'FilePmdMapped',
  'Shared_Hugetlb',
  'Private_Hugetlb',
  'Swap',
  'SwapPss',
  'Locked',
  'THPeligible',
  'ProtectionKey',
];

/** Keys that -X (one X) leaves out; -XX shows them. */
export const X_HIDDEN_KEYS: ReadonlySet<string> = new Set([
  'AnonHugePages',
  'KernelPageSize',
  'MMUPageSize',
  'Shared_Dirty',
  'Private_Dirty',
  'Shared_Clean',
  'Private_Clean',
  'VmFlags',
]);

interface MappingLine {
  fields: number;
  start: string;
  perms: string;
  offset: string;
  dev: string;
  inode: string;
  desc: string;
}

const notNewline = (c: number): boolean => c !== 10;
const isDevChar = (c: number): boolean => isLowerHex(c) || c === 58;

// sscanf("%20[0-9a-f]-%20[0-9a-f] %31s %20[0-9a-f] %63[0-9a-f:] %20s %127[^\n]"): the number of
// conversions and their text.
function scanMappingLine(line: string): MappingLine {
  const m: MappingLine = {
    fields: 0,
    start: '',
    perms: '',
    offset: '',
    dev: '',
    inode: '',
    desc: '',
  };
  const start = scanSet(line, 0, 20, isLowerHex);
  if (!start) return m;
  m.start = start.value;
  m.fields = 1;
  if (line[start.end] !== '-') return m;
  const end = scanSet(line, start.end + 1, 20, isLowerHex);
  if (!end) return m;
  m.fields = 2;
  const perms = scanWord(line, skipSpace(line, end.end), 31);
  if (!perms) return m;
  m.perms = perms.value;
  m.fields = 3;
  const offset = scanSet(line, skipSpace(line, perms.end), 20, isLowerHex);
  if (!offset) return m;
  m.offset = offset.value;
  m.fields = 4;
  const dev = scanSet(line, skipSpace(line, offset.end), 63, isDevChar);
  if (!dev) return m;
  m.dev = dev.value;
  m.fields = 5;
  const inode = scanWord(line, skipSpace(line, dev.end), 20);
  if (!inode) return m;
  m.inode = inode.value;
  m.fields = 6;
  const desc = scanSet(line, skipSpace(line, inode.end), 127, notNewline);
  if (!desc) return m;
  m.desc = desc.value;
  m.fields = 7;
  return m;
}

// sscanf("%31[^:]: %20[0-9] kB %c") == 2: a key, a digit string, and nothing after an optional
// "kB". `THPeligible:    0` qualifies too.
function scanDetailLine(line: string): { key: string; digits: string } | null {
  let i = 0;
  while (i < line.length && i < 31 && line[i] !== ':') i++;
  if (i === 0 || line[i] !== ':') return null;
  const digits = scanSet(line, skipSpace(line, i + 1), 20, isDecimal);
  if (!digits) return null;
  let j = skipSpace(line, digits.end);
  if (line[j] === 'k' && line[j + 1] === 'B') {
    j = skipSpace(line, j + 2);
    if (j < line.length) return null;
  }
  return { key: line.slice(0, i), digits: digits.value };
}

const isFlagChar = (c: number): boolean => (c >= 97 && c <= 122) || c === 32;

// sscanf("VmFlags: %127[a-z ]"), then one trailing space removed.
function scanVmFlags(line: string): string | null {
  if (!line.startsWith('VmFlags:')) return null;
  const flags = scanSet(line, skipSpace(line, 8), 127, isFlagChar);
  if (!flags) return null;
  return flags.value.endsWith(' ') ? flags.value.slice(0, -1) : flags.value;
}

interface DetailColumn {
  name: string;
  valueStr: string;
  total: bigint;
  width: number;
}

function parseDecimalSaturating(digits: string): bigint {
  const v = BigInt(digits);
  return v > ULONG_MAX ? ULONG_MAX : v;
}

/**
 * Renders one process in the -X, -XX or rc layout (header line included). Returns 0, or 1 when
 * the smaps text could not be opened. Throws PmapFormatError where pmap exits on a format error;
 * whatever was already written stays written.
 */
export function renderSmapsTable(
  proc: PmapProcess,
  opts: PmapOptions,
  out: (text: string) => void,
): number {
  out(headerLine(proc.tgid, proc.command));
  if (proc.mapText === null) return 1;

  const rcFields = opts.rcFields ?? new Set<string>();
  const enabled = (name: string): boolean => {
    if (opts.mode === 'X') return !X_HIDDEN_KEYS.has(name);
    if (opts.mode === 'rc') return rcFields.has(name);
    return true;
  };
  const showPerm = enabled('Perm');
  const showOffset = enabled('Offset');
  const showDevice = enabled('Device');
  const showInode = enabled('Inode');
  const showMapping = enabled('Mapping');
  const showVmFlags = enabled('VmFlags');

  const lines = splitLines(proc.mapText);
  // Only a last line can lack its newline; pmap echoes the line with it in one error message.
  const lastHasNewline = proc.mapText.endsWith('\n');
  const columns: DetailColumn[] = [];
  let wStart = 0;
  let wPerm = 0;
  let wOffset = 0;
  let wDev = 0;
  let wInode = 0;
  let wFlags = 0;
  let hasVmFlags = false;
  // pmap's flags buffer is not cleared between mappings: a block without VmFlags repeats the last.
  let vmFlags = '';
  let measuring = true;
  let headerDue = !opts.quiet;
  const rows: SortableRow[] | null = opts.sort === undefined ? null : [];

  // justify_print: a heading padded to at least its own length; width < 1 means puts().
  const heading = (text: string, width: number): number => {
    if (width < 1) {
      out(`${text}\n`);
      return width;
    }
    const w = Math.max(width, text.length);
    out(`${padStart(text, w)} `);
    return w;
  };

  let i = 0;
  let line = lines[0];
  while (line !== undefined) {
    const m = scanMappingLine(line);
    if (m.fields < 6) throw new PmapFormatError('Unknown format in smaps file!');
    wStart = Math.max(wStart, m.start.length);
    wPerm = Math.max(wPerm, m.perms.length);
    wOffset = Math.max(wOffset, m.offset.length);
    wDev = Math.max(wDev, m.dev.length);
    wInode = Math.max(wInode, m.inode.length);

    line = lines[++i];
    let detail = line !== undefined ? scanDetailLine(line) : null;
    let col = 0;
    while (line !== undefined && detail !== null) {
      if (enabled(detail.key)) {
        let c = columns[col];
        if (c === undefined) {
          c = {
            name: detail.key,
            valueStr: '',
            total: 0n,
            width: opts.quiet ? 0 : detail.key.length,
          };
          columns.push(c);
        } else if (c.name !== detail.key) {
          throw new PmapFormatError(
            `ERROR: inconsistent detail field in smaps file, line:\n ${line}${i < lines.length - 1 || lastHasNewline ? '\n' : ''}`,
          );
        }
        c.valueStr = detail.digits;
        if (measuring) {
          c.total = (c.total + parseDecimalSaturating(detail.digits)) & MASK64;
          if (opts.quiet) c.width = Math.max(c.width, detail.digits.length);
        }
        col++;
      }
      line = lines[++i];
      detail = line !== undefined ? scanDetailLine(line) : null;
    }

    const flags = line !== undefined ? scanVmFlags(line) : null;
    if (flags !== null) {
      vmFlags = flags;
      wFlags = Math.max(wFlags, flags.length);
      hasVmFlags = true;
      line = lines[++i];
    }

    if (measuring) {
      if (line === undefined) {
        measuring = false;
        i = 0;
        line = lines[0];
        if (!opts.quiet) {
          for (const c of columns) c.width = Math.max(c.width, decimalWidth(c.total));
        }
      }
      continue;
    }

    if (headerDue) {
      headerDue = false;
      wStart = heading('Address', wStart);
      if (showPerm) wPerm = heading('Perm', wPerm);
      if (showOffset) wOffset = heading('Offset', wOffset);
      if (showDevice) wDev = heading('Device', wDev);
      if (showInode) wInode = heading('Inode', wInode);
      for (const c of columns) heading(c.name, c.width);
      if (hasVmFlags && showVmFlags) wFlags = heading('VmFlags', wFlags);
      if (showMapping) heading('Mapping', 0);
      else out('\n');
    }

    let text = padStart(m.start, wStart);
    if (showPerm) text += ` ${padStart(m.perms, wPerm)}`;
    if (showOffset) text += ` ${padStart(m.offset, wOffset)}`;
    if (showDevice) text += ` ${padStart(m.dev, wDev)}`;
    if (showInode) text += ` ${padStart(m.inode, wInode)}`;
    for (const c of columns) text += ` ${padStart(c.valueStr, c.width)}`;
    if (hasVmFlags && showVmFlags) text += ` ${padStart(vmFlags, wFlags)}`;
    let name = '';
    if (showMapping) {
      name = opts.showPath ? m.desc : m.desc.slice(m.desc.lastIndexOf('/') + 1);
      text += ` ${name}`;
    }
    text += '\n';
    if (rows) {
      const keys = new Map<string, SortKey>([
        ['address', BigInt(`0x${m.start}`)],
        ['perm', m.perms],
        ['offset', BigInt(`0x${m.offset}`)],
        ['device', m.dev],
        ['inode', /^\d+$/.test(m.inode) ? BigInt(m.inode) : m.inode],
        ['vmflags', vmFlags],
        ['mapping', name],
      ]);
      for (const c of columns) keys.set(c.name.toLowerCase(), BigInt(c.valueStr));
      rows.push({ text, keys });
    } else {
      out(text);
    }
  }

  if (rows && opts.sort !== undefined) {
    const available = ['address', 'perm', 'offset', 'device', 'inode'];
    for (const c of columns) available.push(c.name.toLowerCase());
    available.push('vmflags', 'mapping');
    sortRows(rows, opts.sort, available);
    for (const r of rows) out(r.text);
  }

  if (!opts.quiet && columns.length > 0) {
    let gap = wStart + 1;
    if (showPerm) gap += wPerm + 1;
    if (showOffset) gap += wOffset + 1;
    if (showDevice) gap += wDev + 1;
    if (showInode) gap += wInode + 1;
    const pad = ' '.repeat(gap);
    out(`${pad}${columns.map((c) => `${'='.repeat(c.width)} `).join('')}\n`);
    out(`${pad}${columns.map((c) => `${padStart(c.total.toString(), c.width)} `).join('')}KB \n`);
  }
  return 0;
}
