// A stored full map back into the text of /proc/PID/smaps (or maps), so time travel renders with
// the very pmap renderer a live read uses. The layout is the kernel's (fs/proc/task_mmu.c): the
// name starts in column 74 (after padding to 72 and one space), `kB` values are right-aligned to
// column 24, VmFlags are each followed by a space.

import type { Mapping } from '@fleetpmap/protocol';
import { printableBytes } from './format.ts';

/**
 * The mapping's name as the kernel's bytes, one JS char per byte (what the renderer reads), with
 * what `printableBytes` withholds from a terminal as `?`: pmap prints names as they are, and
 * these come from a monitored host (a line break would even forge a mapping of its own).
 */
function pathBytes(m: Mapping, utf8: boolean): string {
  const bytes =
    m.pathBase64 !== undefined
      ? Buffer.from(m.pathBase64, 'base64').toString('latin1')
      : Buffer.from(m.path, 'utf8').toString('latin1');
  return printableBytes(bytes, utf8);
}

function headLine(m: Mapping, utf8: boolean): string {
  const prefix = `${m.start}-${m.end} ${m.perms} ${m.offset} ${m.dev} ${m.inode} `;
  const path = pathBytes(m, utf8);
  return path === '' ? prefix : `${prefix.padEnd(72)} ${path}`;
}

const field = (name: string, value: string) => `${`${name}:`.padEnd(16)}${value.padStart(8)}`;

/** /proc/PID/maps text: one line per mapping; `utf8`: whether the terminal decodes UTF-8. */
export function mapsText(mappings: readonly Mapping[], utf8: boolean): string {
  return mappings.map((m) => `${headLine(m, utf8)}\n`).join('');
}

/**
 * /proc/PID/smaps text. The kB fields come first in the order they were stored, then the other
 * fields (THPeligible, ProtectionKey), as the kernel prints them.
 */
export function smapsText(mappings: readonly Mapping[], utf8: boolean): string {
  let out = '';
  for (const m of mappings) {
    out += `${headLine(m, utf8)}\n`;
    for (const [name, kb] of Object.entries(m.kb)) out += `${field(name, String(kb))} kB\n`;
    for (const [name, value] of Object.entries(m.extra)) out += `${field(name, value)}\n`;
    out += `VmFlags: ${m.vmFlags.map((f) => `${f} `).join('')}\n`;
  }
  return out;
}

/**
 * An address inside the `[stack]` mapping. pmap labels the mapping holding the process's
 * start_stack `[ stack ]`; that address is not stored, and any address inside the main stack
 * mapping labels the same one.
 */
export function stackAddress(mappings: readonly Mapping[]): bigint {
  const stack = mappings.find((m) => m.path === '[stack]');
  if (!stack) return 0n;
  const start = BigInt(`0x${stack.start}`);
  const end = BigInt(`0x${stack.end}`);
  return start + (end - start) / 2n;
}
