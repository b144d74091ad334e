// --summary: a short table of a process's memory by region class, the number of thread stacks,
// and a hint when the heap keeps much more address space than it has resident.

import { headerLine } from '@fleetpmap/pmap';
import { REGION_CLASSES, type RegionTotals } from '@fleetpmap/procfs';
import { analyse, type JsonProcess } from './extension-data.ts';

// A heap is worth a hint when it is at least this big and less than this share of it is resident.
const HINT_MIN_HEAP_KB = 64 * 1024;
const HINT_MAX_RESIDENT_SHARE = 0.25;

const COLUMNS: readonly [string, keyof RegionTotals][] = [
  ['Count', 'count'],
  ['Size KiB', 'sizeKb'],
  ['RSS KiB', 'rssKb'],
  ['PSS KiB', 'pssKb'],
  ['PrivDirty KiB', 'privateDirtyKb'],
  ['Swap KiB', 'swapKb'],
];

function row(label: string, t: RegionTotals): string {
  return `${label.padEnd(8)}${COLUMNS.map(([h, k]) => ` ${String(t[k]).padStart(h.length)}`).join('')}\n`;
}

/** Writes the summary of one process (header line first, like the pmap layouts). */
export function renderSummary(p: JsonProcess, out: (text: string) => void): void {
  if ('error' in p) return;
  out(headerLine(p.proc.tgid, p.proc.command));
  const a = analyse(p);
  if (typeof a === 'string') return;
  out(`${'Class'.padEnd(8)}${COLUMNS.map(([h]) => ` ${h}`).join('')}\n`);
  const total: RegionTotals = {
    count: 0,
    sizeKb: 0,
    rssKb: 0,
    pssKb: 0,
    privateDirtyKb: 0,
    swapKb: 0,
  };
  for (const cls of REGION_CLASSES) {
    const t = a.regions.regions[cls];
    for (const [, k] of COLUMNS) total[k] += t[k];
    out(row(cls, t));
  }
  out(row('total', total));
  out(`thread stacks: ${a.regions.threadStacks}\n`);
  const heap = a.regions.regions.heap;
  if (heap.sizeKb >= HINT_MIN_HEAP_KB && heap.rssKb < heap.sizeKb * HINT_MAX_RESIDENT_SHARE) {
    const pct = Math.round((heap.rssKb / heap.sizeKb) * 100);
    out(
      `hint: the heap is ${heap.sizeKb} KiB but only ${heap.rssKb} KiB (${pct}%) is resident: freed memory is not returned to the system (fragmentation)\n`,
    );
  }
}
