import { statSync } from 'node:fs';
import type { ProcCgroup } from './cgroup.ts';
import { ProcfsParseError } from './errors.ts';
import { readProcTextSync } from './read.ts';

/**
 * Where a memory cgroup hierarchy is visible to this process: `dir` is the mount point (re-rooted
 * under the configured sys root), `root` the path inside the hierarchy that the mount shows (field
 * 4 of mountinfo). A container without its own cgroup namespace sees `/docker/<id>` in
 * /proc/PID/cgroup while its /sys/fs/cgroup/memory shows only that cgroup: `root` is what maps
 * one onto the other.
 */
export interface CgroupMount {
  dir: string;
  root: string;
}

/** The memory controller's hierarchies as this process sees them; null = not mounted. */
export interface MemoryCgroupLayout {
  /** A cgroup v1 hierarchy with the `memory` controller. */
  v1: CgroupMount | null;
  /** The unified (v2) hierarchy. In hybrid setups it carries no memory controller. */
  v2: CgroupMount | null;
}

/** One cgroup's directory and the file holding its own memory limit. */
export interface MemoryCgroup {
  /** The cgroup's directory. */
  dir: string;
  /** The mount point: the walk over ancestors stops there. */
  top: string;
  file: 'memory.max' | 'memory.limit_in_bytes';
}

/**
 * A process's effective memory limit: KiB, `none` when no cgroup on its path sets one, `unknown`
 * when its cgroup cannot be seen from here (another namespace, not mounted, gone).
 */
export type MemoryLimitKb = number | 'none' | 'unknown';

/**
 * v1 prints "no limit" as PAGE_COUNTER_MAX in bytes, 2^63 rounded down to the page size (its
 * exact value depends on the page size); anything from 2^62 up is taken as that.
 */
const V1_UNLIMITED = 2n ** 62n;
const MOUNTINFO_MAX_BYTES = 4 * 1024 * 1024;
const LIMIT_FILE_MAX_BYTES = 64;
/** Deeper cgroup trees are corrupt or hostile; systemd nests a handful of levels. */
const MAX_DEPTH = 64;

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * The memory hierarchies of /proc/PID/mountinfo (proc(5): `id parent major:minor root mountpoint
 * options [optional…] - fstype source superoptions`). Mount points under /sys are re-rooted at
 * `sysRoot`, so a test can lay out a sys tree anywhere. The first mount of each kind wins.
 */
export function parseMemoryCgroupMounts(
  text: string,
  file: string,
  sysRoot = '/sys',
): MemoryCgroupLayout {
  const layout: MemoryCgroupLayout = { v1: null, v2: null };
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n] as string;
    if (line === '') continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) {
      throw new ProcfsParseError(file, n + 1, 'malformed mountinfo line');
    }
    const fstype = f[sep + 1];
    const v1Memory = fstype === 'cgroup' && (f[sep + 3] as string).split(',').includes('memory');
    if (!(v1Memory || fstype === 'cgroup2')) continue;
    const mountPoint = unescapeMountField(f[4] as string);
    const mount: CgroupMount = {
      dir:
        mountPoint === '/sys' || mountPoint.startsWith('/sys/')
          ? sysRoot + mountPoint.slice(4)
          : mountPoint,
      root: unescapeMountField(f[3] as string),
    };
    if (v1Memory) layout.v1 ??= mount;
    else layout.v2 ??= mount;
  }
  return layout;
}

/** The memory hierarchies this process (the reader, not the target) sees. */
export function readMemoryCgroupLayout(
  options: { procRoot?: string; sysRoot?: string } = {},
): MemoryCgroupLayout {
  const file = `${options.procRoot ?? '/proc'}/self/mountinfo`;
  return parseMemoryCgroupMounts(
    readProcTextSync(file, { maxBytes: MOUNTINFO_MAX_BYTES }),
    file,
    options.sysRoot,
  );
}

/** `path` of the hierarchy below the mount's `root`, or null when the mount does not show it. */
function underMount(mount: CgroupMount, path: string): string | null {
  const root = mount.root.endsWith('/') ? mount.root.slice(0, -1) : mount.root;
  if (path !== root && !path.startsWith(`${root}/`)) return null;
  const rest = path.slice(root.length);
  // `..` cannot come from the kernel; a path with it would leave the mount.
  if (rest.split('/').some((c) => c === '..' || c === '.')) return null;
  return rest === '/' ? '' : rest;
}

/**
 * The memory cgroup of a process (its parsed /proc/PID/cgroup) as a directory here, or null when it
 * is not visible. The v1 `memory` line wins: on a hybrid host the unified hierarchy has no memory
 * controller. A process whose only line is the unified one is looked up in v2.
 */
export function memoryCgroupOf(cg: ProcCgroup, layout: MemoryCgroupLayout): MemoryCgroup | null {
  const v1 = cg.lines.find(
    (l) => l.hierarchyId !== 0 && l.controllers.split(',').includes('memory'),
  );
  if (v1) {
    if (!layout.v1) return null;
    const rest = underMount(layout.v1, v1.path);
    if (rest === null) return null;
    return { dir: layout.v1.dir + rest, top: layout.v1.dir, file: 'memory.limit_in_bytes' };
  }
  if (cg.unified === null || !layout.v2) return null;
  const rest = underMount(layout.v2, cg.unified);
  if (rest === null) return null;
  return { dir: layout.v2.dir + rest, top: layout.v2.dir, file: 'memory.max' };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** One directory's own limit in bytes; null = none set there, `absent` = no such file. */
function ownLimitBytes(dir: string, file: MemoryCgroup['file']): bigint | null | 'absent' {
  let text: string;
  try {
    text = readProcTextSync(`${dir}/${file}`, { maxBytes: LIMIT_FILE_MAX_BYTES }).trim();
  } catch (err) {
    // v2 has memory.max only where the parent enables the memory controller; the root has none.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  if (file === 'memory.max' && text === 'max') return null;
  if (!/^\d{1,20}$/.test(text)) {
    throw new ProcfsParseError(`${dir}/${file}`, 1, `not a byte count: ${JSON.stringify(text)}`);
  }
  const bytes = BigInt(text);
  return file === 'memory.limit_in_bytes' && bytes >= V1_UNLIMITED ? null : bytes;
}

/**
 * Reads effective memory limits: the tightest limit over a cgroup and its ancestors up to the
 * mount point, as the kernel enforces them (v1 with `memory.use_hierarchy`, which every kernel
 * since 5.x forces on). Each directory is read once per instance: make one per collection cycle,
 * since thousands of processes share a few cgroups and limits change at run time.
 */
export class MemoryLimitReader {
  readonly #own = new Map<string, bigint | null | 'absent'>();
  readonly #effective = new Map<string, MemoryLimitKb>();

  /** Files read so far (for cost accounting and tests). */
  reads = 0;

  limitKb(cg: MemoryCgroup | null): MemoryLimitKb {
    if (cg === null) return 'unknown';
    const cached = this.#effective.get(cg.dir);
    if (cached !== undefined) return cached;
    const result = this.#compute(cg);
    this.#effective.set(cg.dir, result);
    return result;
  }

  #compute(cg: MemoryCgroup): MemoryLimitKb {
    let min: bigint | null = null;
    let dir = cg.dir;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      let own = this.#own.get(dir);
      if (own === undefined) {
        try {
          own = ownLimitBytes(dir, cg.file);
        } catch {
          return 'unknown';
        }
        this.reads++;
        this.#own.set(dir, own);
      }
      // No file in the cgroup's own directory: fine when the directory is there (a v2 level
      // without the memory controller), else the cgroup is not visible from here.
      if (depth === 0 && own === 'absent' && !isDirectory(dir)) return 'unknown';
      if (typeof own === 'bigint' && (min === null || own < min)) min = own;
      if (dir.length <= cg.top.length) break;
      dir = dir.slice(0, dir.lastIndexOf('/'));
    }
    if (min === null) return 'none';
    // Page-aligned in practice; rounding down never overstates the room left.
    const kb = min / 1024n;
    return kb > BigInt(Number.MAX_SAFE_INTEGER) ? 'none' : Number(kb);
  }
}

/** One process's effective memory limit, read from scratch (the agent batches with a reader). */
export function readMemoryLimitKb(
  cg: ProcCgroup,
  options: { procRoot?: string; sysRoot?: string; layout?: MemoryCgroupLayout } = {},
): MemoryLimitKb {
  let layout = options.layout;
  if (!layout) {
    try {
      layout = readMemoryCgroupLayout(options);
    } catch {
      return 'unknown';
    }
  }
  return new MemoryLimitReader().limitKb(memoryCgroupOf(cg, layout));
}
