import type { MapsEntry, SmapsEntry } from './model.ts';

/** The protocol's region classes (design/protocol-v1.md, `regions`). */
export type RegionClass = 'heap' | 'stack' | 'anon' | 'file' | 'shmem' | 'special';

export const REGION_CLASSES: readonly RegionClass[] = [
  'heap',
  'stack',
  'anon',
  'file',
  'shmem',
  'special',
];

/**
 * Finer kinds inside a class: `threadStack` and `guard` are anon mappings recognised as a thread's
 * stack and the PROT_NONE page below it; `named` is `[anon:name]`; `arenaReserve` is a PROT_NONE
 * anonymous reservation that is not a stack guard (malloc arenas, JIT reservations).
 */
export type RegionSubclass = 'threadStack' | 'guard' | 'named' | 'arenaReserve' | null;

/** Shared constant objects: compare them, never change them. */
export interface MappingClass {
  readonly cls: RegionClass;
  readonly subclass: RegionSubclass;
}

export interface RegionTotals {
  count: number;
  sizeKb: number;
  rssKb: number;
  pssKb: number;
  privateDirtyKb: number;
  swapKb: number;
}

export type Regions = Record<RegionClass, RegionTotals>;

export interface ProcessRegions extends ProcessRegionTotals {
  /** One entry per mapping, same order as the input. */
  mappings: MappingClass[];
}

// A glibc/musl thread stack is a PROT_NONE guard (one page by default, the guardsize attribute
// otherwise) directly below a rw anonymous mapping. Bounds keep malloc's 64 MiB PROT_NONE arena
// reservations, which sit *above* their rw part, from being mistaken for guards.
const MAX_GUARD_KB = 1024;
const MIN_THREAD_STACK_KB = 16;

/** Compares two kernel hex strings exactly, whatever their length (no float rounding). */
export function compareHex(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length - 1 && a.charCodeAt(i) === 48) i++;
  while (j < b.length - 1 && b.charCodeAt(j) === 48) j++;
  const la = a.length - i;
  const lb = b.length - j;
  if (la !== lb) return la < lb ? -1 : 1;
  for (; i < a.length; i++, j++) {
    const d = a.charCodeAt(i) - b.charCodeAt(j);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Size in KiB of [start, end). Exact: 13 hex digits (52 bits) fit a double, beyond that (5-level
 * paging, [vsyscall] at 0xffffffffff600000) BigInt is used. 0 when end <= start.
 */
export function rangeKb(start: string, end: string): number {
  if (start.length <= 13 && end.length <= 13) {
    const d = Number.parseInt(end, 16) - Number.parseInt(start, 16);
    return d > 0 ? Math.floor(d / 1024) : 0;
  }
  const d = BigInt(`0x${end}`) - BigInt(`0x${start}`);
  return d > 0n ? Number(d / 1024n) : 0;
}

function emptyTotals(): RegionTotals {
  return { count: 0, sizeKb: 0, rssKb: 0, pssKb: 0, privateDirtyKb: 0, swapKb: 0 };
}

export function emptyRegions(): Regions {
  return {
    heap: emptyTotals(),
    stack: emptyTotals(),
    anon: emptyTotals(),
    file: emptyTotals(),
    shmem: emptyTotals(),
    special: emptyTotals(),
  };
}

function isSharedMemoryPath(path: string): boolean {
  return (
    path.startsWith('/SYSV') ||
    path.startsWith('/memfd:') ||
    path.startsWith('/dev/shm/') ||
    path.startsWith('/dev/zero') ||
    path.startsWith('[anon_shmem:')
  );
}

// Classes are shared constants (read-only to callers): one object per mapping would be a few
// hundred thousand allocations per host scan.
const C = {
  heap: Object.freeze({ cls: 'heap', subclass: null }),
  stack: Object.freeze({ cls: 'stack', subclass: null }),
  anon: Object.freeze({ cls: 'anon', subclass: null }),
  named: Object.freeze({ cls: 'anon', subclass: 'named' }),
  threadStack: Object.freeze({ cls: 'anon', subclass: 'threadStack' }),
  guard: Object.freeze({ cls: 'anon', subclass: 'guard' }),
  arenaReserve: Object.freeze({ cls: 'anon', subclass: 'arenaReserve' }),
  file: Object.freeze({ cls: 'file', subclass: null }),
  shmem: Object.freeze({ cls: 'shmem', subclass: null }),
  special: Object.freeze({ cls: 'special', subclass: null }),
} as const satisfies Record<string, MappingClass>;

function containsStart(m: MapsEntry, startStackHex: string | null): boolean {
  return (
    startStackHex !== null &&
    compareHex(m.start, startStackHex) <= 0 &&
    compareHex(startStackHex, m.end) <= 0
  );
}

function baseClass(m: MapsEntry, startStackHex: string | null): MappingClass {
  const path = m.path;
  const shared = m.perms.charCodeAt(3) === 115;
  if (path === '') {
    // The pmap rule: the main stack is the mapping with start <= startstack <= end (inclusive).
    if (containsStart(m, startStackHex)) return C.stack;
    if (shared) return C.shmem;
    // Provisional for PROT_NONE: RegionAccumulator turns it into 'guard' if a thread stack follows.
    return m.perms === '---p' ? C.arenaReserve : C.anon;
  }
  const c0 = path.charCodeAt(0);
  if (c0 === 47) {
    // '/': a file, or shared memory that the kernel names like one.
    if (shared || isSharedMemoryPath(path)) return C.shmem;
    return path.startsWith('/anon_hugepage') ? C.anon : C.file;
  }
  if (c0 === 91) {
    // '[': kernel pseudo-names.
    if (path === '[heap]') return C.heap;
    if (path === '[stack]') return C.stack;
    if (path.startsWith('[anon_shmem:')) return C.shmem;
    if (shared) return C.shmem;
    if (path.startsWith('[anon:')) return C.named;
    // Kernels before 4.5 labelled thread stacks `[stack:TID]`.
    if (path.startsWith('[stack:')) return C.threadStack;
    if (!path.includes('/') && containsStart(m, startStackHex)) return C.stack;
    return C.special;
  }
  if (shared) return C.shmem;
  // anon_inode:[…] and other non-path names: kernel objects, not memory a process allocated.
  return C.special;
}

/**
 * Streaming classifier: feed one process's entries in the kernel's (address) order, then call
 * `finish()`. Holds only the previous entry (a PROT_NONE page is a thread-stack guard only if the
 * next mapping is the stack), so a reader can classify a huge smaps without keeping its entries.
 */
export class RegionAccumulator {
  readonly regions: Regions = emptyRegions();
  threadStacks = 0;
  guards = 0;
  private readonly ssHex: string | null;
  private readonly onClass: ((entry: MapsEntry, c: MappingClass) => void) | null;
  private prev: MapsEntry | null = null;
  private prevClass: MappingClass | null = null;

  /**
   * `startStack` is field 28 of /proc/PID/stat (null or 0 when unknown: then only `[stack]`
   * counts). `onClass` receives every entry with its final class, in order.
   */
  constructor(
    startStack: bigint | null,
    onClass: ((entry: MapsEntry, c: MappingClass) => void) | null = null,
  ) {
    this.ssHex = startStack !== null && startStack > 0n ? startStack.toString(16) : null;
    this.onClass = onClass;
  }

  add(entry: MapsEntry): void {
    const prev = this.prev;
    const pc = this.prevClass;
    let c = baseClass(entry, this.ssHex);
    if (prev !== null && pc === C.arenaReserve) {
      if (
        c === C.anon &&
        entry.path === '' &&
        entry.perms === 'rw-p' &&
        entry.start === prev.end &&
        rangeKb(prev.start, prev.end) <= MAX_GUARD_KB &&
        rangeKb(entry.start, entry.end) >= MIN_THREAD_STACK_KB
      ) {
        this.prevClass = C.guard;
        c = C.threadStack;
      }
    }
    this.flushPrev();
    this.prev = entry;
    this.prevClass = c;
  }

  finish(): ProcessRegionTotals {
    this.flushPrev();
    return { regions: this.regions, threadStacks: this.threadStacks, guards: this.guards };
  }

  private flushPrev(): void {
    const e = this.prev;
    const c = this.prevClass;
    if (e === null || c === null) return;
    this.prev = null;
    this.prevClass = null;
    const t = this.regions[c.cls];
    t.count++;
    const kb = (e as Partial<SmapsEntry>).kb;
    if (kb !== undefined) {
      t.sizeKb += kb.Size ?? rangeKb(e.start, e.end);
      t.rssKb += kb.Rss ?? 0;
      t.pssKb += kb.Pss ?? 0;
      t.privateDirtyKb += kb.Private_Dirty ?? 0;
      t.swapKb += kb.Swap ?? 0;
    } else {
      t.sizeKb += rangeKb(e.start, e.end);
    }
    if (c.subclass === 'threadStack') this.threadStacks++;
    else if (c.subclass === 'guard') this.guards++;
    this.onClass?.(e, c);
  }
}

export interface ProcessRegionTotals {
  /** The protocol's `regions` object. */
  regions: Regions;
  threadStacks: number;
  guards: number;
}

/**
 * Classifies every mapping of one process. `mappings` must be in the kernel's (address) order;
 * `startStack` is field 28 of /proc/PID/stat (null or 0 when unknown: then only `[stack]` counts).
 */
export function classifyMappings(
  mappings: readonly MapsEntry[],
  startStack: bigint | null,
): MappingClass[] {
  const out: MappingClass[] = [];
  const acc = new RegionAccumulator(startStack, (_e, c) => out.push(c));
  for (const m of mappings) acc.add(m);
  acc.finish();
  return out;
}

/** Classifies a process's smaps entries and sums them per class. */
export function classifyProcess(
  entries: readonly SmapsEntry[],
  startStack: bigint | null,
): ProcessRegions {
  const mappings: MappingClass[] = [];
  const acc = new RegionAccumulator(startStack, (_e, c) => mappings.push(c));
  for (const e of entries) acc.add(e);
  return { mappings, ...acc.finish() };
}
