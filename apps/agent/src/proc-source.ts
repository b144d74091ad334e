import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AT_CLKTCK,
  AT_PAGESZ,
  type MemoryCgroup,
  type MemoryCgroupLayout,
  MemoryLimitReader,
  memoryCgroupOf,
  PROC_STAT_MAX_BYTES,
  parseAuxv,
  parseBootTimeMs,
  parseCgroup,
  parseSmapsRollup,
  parseStat,
  parseStatus,
  RegionAccumulator,
  readMemoryCgroupLayout,
  readProcText,
  rollupFromKb,
  type SmapsEntry,
  SmapsParser,
  streamProcText,
} from '@fleetpmap/procfs';
import {
  type Host,
  LIMITS,
  type Mapping,
  type ReadError,
  type Regions,
  type Rollup,
  type StatusSample,
} from '@fleetpmap/protocol';
import { wireText, wireTextLatin1 } from './text.ts';

export type ReadResult<T> = { ok: true; value: T } | { ok: false; error: ReadError };

/** Tier 1: what `stat` and `status` give, every interval, for every process. */
export interface CheapSample {
  pid: number;
  ppid: number;
  uid: number;
  startTicks: number;
  threads: number;
  /** `comm` as in stat, for skip reports before the identity is read. */
  statComm: string;
  /**
   * stat field 28: the main thread's stack start, for telling the main stack from the rest. Set
   * anew by every exec (0 when the reader may not see it: another user's process, unprivileged).
   */
  startStack: number;
  /** PF_KTHREAD: no address space, no exe, no command line. */
  kernelThread: boolean;
  status: StatusSample;
}

/** Where a process sits in the cgroup tree; it can be moved there at run time. */
export interface CgroupPlace {
  cgroup?: string;
  /** Where the process's memory cgroup is visible here; not on the wire. */
  memoryCgroup?: MemoryCgroup;
}

/** A command line as the wire carries it; a process can rewrite it without an exec. */
export interface Cmdline {
  cmdline: string;
  cmdlineBase64?: string;
  cmdlineTruncated?: boolean;
}

/**
 * Read when a process is first seen and again after an exec. Any field may be missing; `error`
 * says why.
 */
export interface Identity extends CgroupPlace, Cmdline {
  comm: string;
  commBase64?: string;
  exe?: string;
  exeBase64?: string;
  error?: ReadError;
}

export interface FullMap {
  regions: Regions;
  mappings: Mapping[];
}

/** What stays put until the next reboot; the boot time is read with every cycle. */
export type HostFacts = Omit<Host, 'name' | 'labels' | 'bootTimeMs'>;

/** Everything the collector reads; `procfsSource` reads a real (or fixture) proc tree. */
export interface ProcSource {
  listPids(): Promise<number[]>;
  readCheap(pid: number): Promise<ReadResult<CheapSample>>;
  /** `kernelThread`: the process has no exe to read (stat's PF_KTHREAD). */
  readIdentity(pid: number, opts?: { kernelThread?: boolean }): Promise<Identity>;
  /** The cgroup again, without the rest of the identity. */
  readCgroup(pid: number): Promise<ReadResult<CgroupPlace>>;
  /** The command line again (`setproctitle` rewrites it in place, without an exec). */
  readCmdline(pid: number): Promise<ReadResult<Cmdline>>;
  readRollup(pid: number): Promise<ReadResult<Rollup>>;
  readFull(pid: number, startStack: number): Promise<ReadResult<FullMap>>;
  readHost(): Promise<HostFacts>;
  /** `btime` of /proc/stat in ms; undefined when it cannot be read (the field is optional). */
  readBootTimeMs(): Promise<number | undefined>;
  /**
   * A lookup of effective cgroup memory limits (KiB; undefined = none known) for one cycle: each
   * cgroup directory is read once per lookup, and limits can change at run time.
   */
  memoryLimits(): (cg: MemoryCgroup) => number | undefined;
}

/** Maps a thrown fs/parse error to the protocol's `{code, message}`. */
export function toReadError(err: unknown): ReadError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' && /^[A-Z0-9_]{1,32}$/.test(e.code) ? e.code : 'EUNKNOWN';
  const message = typeof e.message === 'string' ? e.message : String(err);
  return { code, message: message.slice(0, LIMITS.errorMessageChars) };
}

const HEX = /^[0-9a-f]{1,16}$/;

/** Keeps at most `max` own properties (the kernel prints ~25 kB fields; the limit is 64). */
function capFields<T>(r: Record<string, T>, max: number, fix?: (v: T) => T): Record<string, T> {
  let n = 0;
  let needsCopy = false;
  for (const k in r) {
    const v = r[k] as T;
    if (++n > max || (fix && fix(v) !== v)) {
      needsCopy = true;
      break;
    }
  }
  if (!needsCopy) return r;
  const out: Record<string, T> = {};
  n = 0;
  for (const k in r) {
    if (n++ >= max) break;
    const v = r[k] as T;
    out[k] = fix ? fix(v) : v;
  }
  return out;
}

const capExtra = (v: string) =>
  v.length > LIMITS.extraValueChars ? v.slice(0, LIMITS.extraValueChars) : v;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII is exactly what is tested
const ASCII = /^[\x00-\x7f]*$/;

/**
 * One smaps entry as the wire carries it, bounded to the protocol's limits. The parser's own
 * field objects are reused when they are within the limits: a big host's full tier holds
 * hundreds of thousands of these at once.
 */
export function toWireMapping(e: SmapsEntry): Mapping {
  const inode = Number(e.inode);
  const m: Mapping = {
    start: e.start,
    end: e.end,
    perms: e.perms,
    offset: HEX.test(e.offset) ? e.offset : '0',
    dev: e.dev,
    // Above 2^53 a JSON number cannot carry it exactly; such inodes are reported as 0.
    inode: Number.isSafeInteger(inode) ? inode : 0,
    path: e.path,
    kb: capFields(e.kb, LIMITS.kbFieldsPerMapping),
    vmFlags:
      e.vmFlags === null
        ? []
        : e.vmFlags.length > LIMITS.vmFlagsPerMapping
          ? e.vmFlags.slice(0, LIMITS.vmFlagsPerMapping)
          : e.vmFlags,
    extra: capFields(e.extra, LIMITS.extraFieldsPerMapping, capExtra),
  };
  if (!ASCII.test(e.path) || e.path.length > LIMITS.pathChars) {
    const path = wireTextLatin1(e.path, LIMITS.pathChars);
    m.path = path.text;
    if (path.base64 !== undefined) m.pathBase64 = path.base64;
  }
  return m;
}

/** Cap for the small per-process text files; a larger one is corrupt or hostile. */
const SMALL_FILE_MAX = 1024 * 1024;

/**
 * Bytes of a command line worth reading: `cmdlineChars` characters of UTF-8 take at most four
 * bytes each, and anything after them is cut anyway. A command line can be as long as the
 * kernel's argument limit (a quarter of the stack limit, 2 MiB and more).
 */
const CMDLINE_READ_BYTES = 4 * LIMITS.cmdlineChars;

let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Reads a small /proc file (stat, status, comm, cmdline, cgroup) synchronously into one reused
 * buffer. These files are generated without the target's mmap lock and in microseconds; the
 * thread-pool round trips of the async API cost several times the read itself, and the cheap tier
 * does this for every process every interval.
 */
export function readSmallSync(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let used = 0;
    for (;;) {
      if (used === scratch.length) {
        if (scratch.length >= SMALL_FILE_MAX) {
          throw Object.assign(new Error(`${path}: larger than ${SMALL_FILE_MAX} bytes`), {
            code: 'ETOOBIG',
          });
        }
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger, 0, 0, used);
        scratch = bigger;
      }
      const n = readSync(fd, scratch, used, scratch.length - used, null);
      if (n === 0) break;
      used += n;
    }
    return scratch.toString('latin1', 0, used);
  } finally {
    closeSync(fd);
  }
}

/**
 * The first `maxBytes` bytes of a small /proc file (a copy), and whether there is more after
 * them. Reads one byte over the cap to know, never the rest.
 */
export function readHeadSync(path: string, maxBytes: number): { bytes: Buffer; more: boolean } {
  if (scratch.length < maxBytes + 1) scratch = Buffer.allocUnsafe(maxBytes + 1);
  const fd = openSync(path, 'r');
  try {
    let used = 0;
    while (used <= maxBytes) {
      const n = readSync(fd, scratch, used, maxBytes + 1 - used, null);
      if (n === 0) break;
      used += n;
    }
    const more = used > maxBytes;
    return { bytes: Buffer.from(scratch.subarray(0, Math.min(used, maxBytes))), more };
  } finally {
    closeSync(fd);
  }
}

/** Drops a UTF-8 sequence cut short at the end of `b` (a head read stopped inside it). */
function withoutCutSequence(b: Buffer): Buffer {
  for (let i = b.length - 1; i >= 0 && i >= b.length - 4; i--) {
    const byte = b[i] as number;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = byte >= 0xf8 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return b.length - i < need ? b.subarray(0, i) : b;
  }
  return b;
}

export interface ProcfsSourceOptions {
  procRoot: string;
  /** Default `/sys`: cgroup mounts found under /sys in `<procRoot>/self/mountinfo` are read here. */
  sysRoot?: string;
  /** Cap for one smaps text, bytes. */
  maxSmapsBytes?: number;
}

/** Reads a proc tree: the real `/proc`, or a fixture directory laid out the same way. */
export function procfsSource(opts: ProcfsSourceOptions): ProcSource {
  const root = opts.procRoot;
  const at = (pid: number, file: string) => join(root, String(pid), file);
  const small = readSmallSync;
  let layout: MemoryCgroupLayout | null | undefined;
  /** The agent's view of the memory hierarchies, read once; null when it has none (fixtures). */
  const memoryLayout = () => {
    if (layout === undefined) {
      try {
        layout = readMemoryCgroupLayout({ procRoot: root, sysRoot: opts.sysRoot });
      } catch {
        layout = null;
      }
    }
    return layout;
  };

  const cgroupPlace = (pid: number): CgroupPlace => {
    const place: CgroupPlace = {};
    const file = at(pid, 'cgroup');
    const text = small(file);
    // Unified hierarchy: the `0::/path` line (cgroup v2, Documentation/admin-guide/cgroup-v2.rst).
    const line = text.split('\n').find((l) => l.startsWith('0::'));
    if (line) place.cgroup = wireTextLatin1(line.slice(3), LIMITS.cgroupChars).text;
    const mounts = memoryLayout();
    if (mounts) {
      try {
        const cg = memoryCgroupOf(parseCgroup(text, file), mounts);
        if (cg) place.memoryCgroup = cg;
      } catch {
        // A cgroup file the parser refuses only loses the optional memory limit.
      }
    }
    return place;
  };

  /** The first 4096 characters of the command line, read from at most its first 16 KiB. */
  const cmdlineOf = (pid: number): Cmdline => {
    const out: Cmdline = { cmdline: '' };
    const head = readHeadSync(at(pid, 'cmdline'), CMDLINE_READ_BYTES);
    const raw = head.more ? withoutCutSequence(head.bytes) : head.bytes;
    for (let i = 0; i < raw.length; i++) if (raw[i] === 0) raw[i] = 0x20;
    let end = raw.length;
    while (!head.more && end > 0 && raw[end - 1] === 0x20) end--;
    const bytes = raw.subarray(0, end);
    const t = wireText(bytes, LIMITS.cmdlineChars);
    out.cmdline = t.text;
    if (t.base64 !== undefined) out.cmdlineBase64 = t.base64;
    if (head.more || t.text.length < bytes.toString('utf8').length) out.cmdlineTruncated = true;
    return out;
  };

  return {
    async listPids() {
      const names = await readdir(root);
      const pids: number[] = [];
      for (const n of names) {
        if (/^[1-9]\d{0,6}$/.test(n)) pids.push(Number(n));
      }
      return pids.sort((a, b) => a - b);
    },

    async readCheap(pid) {
      try {
        const statFile = at(pid, 'stat');
        const statusFile = at(pid, 'status');
        const st = parseStat(small(statFile), statFile);
        const s = parseStatus(small(statusFile), statusFile);
        return {
          ok: true,
          value: {
            pid,
            ppid: st.ppid,
            uid: s.uids[0],
            startTicks: st.startTicks,
            threads: s.threads,
            statComm: st.comm,
            startStack: Number(st.startStack),
            kernelThread: st.kernelThread,
            status: {
              vmSizeKb: s.vmSizeKb,
              vmRssKb: s.vmRssKb,
              rssAnonKb: s.rssAnonKb,
              rssFileKb: s.rssFileKb,
              rssShmemKb: s.rssShmemKb,
              vmSwapKb: s.vmSwapKb,
              vmDataKb: s.vmDataKb,
              vmStkKb: s.vmStkKb,
              vmHwmKb: s.vmHwmKb,
            },
          },
        };
      } catch (err) {
        return { ok: false, error: toReadError(err) };
      }
    },

    async readIdentity(pid, hints = {}) {
      const id: Identity = { comm: '', cmdline: '' };
      const errors: ReadError[] = [];
      const attempt = (f: () => void) => {
        try {
          f();
        } catch (err) {
          errors.push(toReadError(err));
        }
      };
      attempt(() => {
        const raw = Buffer.from(small(at(pid, 'comm')), 'latin1');
        const end = raw.length > 0 && raw[raw.length - 1] === 0x0a ? raw.length - 1 : raw.length;
        const t = wireText(raw.subarray(0, end), LIMITS.commChars);
        id.comm = t.text;
        if (t.base64 !== undefined) id.commBase64 = t.base64;
      });
      attempt(() => Object.assign(id, cmdlineOf(pid)));
      attempt(() => Object.assign(id, cgroupPlace(pid)));
      // Kernel threads have no exe. Unprivileged, the link of one answers EACCES, not ENOENT:
      // the permission check comes first.
      if (!hints.kernelThread) {
        try {
          const target = readlinkSync(at(pid, 'exe'), { encoding: 'buffer' });
          const t = wireText(target, LIMITS.pathChars);
          id.exe = t.text;
          if (t.base64 !== undefined) id.exeBase64 = t.base64;
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'ENOENT') errors.push(toReadError(err));
        }
      }
      const first = errors[0];
      if (first) id.error = first;
      return id;
    },

    async readCgroup(pid) {
      try {
        return { ok: true, value: cgroupPlace(pid) };
      } catch (err) {
        return { ok: false, error: toReadError(err) };
      }
    },

    async readCmdline(pid) {
      try {
        return { ok: true, value: cmdlineOf(pid) };
      } catch (err) {
        return { ok: false, error: toReadError(err) };
      }
    },

    async readRollup(pid) {
      try {
        const file = at(pid, 'smaps_rollup');
        const text = await readProcText(file, { maxBytes: SMALL_FILE_MAX });
        // Empty for a process without an address space: every field 0. USS is not on the wire.
        const { ussKb: _uss, ...rollup } = parseSmapsRollup(text, file)?.rollup ?? rollupFromKb({});
        return { ok: true, value: rollup };
      } catch (err) {
        return { ok: false, error: toReadError(err) };
      }
    },

    async readFull(pid, startStack) {
      const file = at(pid, 'smaps');
      try {
        // Streamed: a process with 100 000 mappings never has its whole smaps text in memory,
        // and each entry is classified and converted as soon as it is parsed.
        const mappings: Mapping[] = [];
        const regions = new RegionAccumulator(startStack > 0 ? BigInt(startStack) : null);
        const parser = new SmapsParser(file, (e) => {
          regions.add(e);
          mappings.push(toWireMapping(e));
        });
        await streamProcText(file, (chunk) => parser.write(chunk), {
          maxBytes: opts.maxSmapsBytes ?? 256 * 1024 * 1024,
        });
        parser.end();
        return { ok: true, value: { regions: regions.finish().regions, mappings } };
      } catch (err) {
        return { ok: false, error: toReadError(err) };
      }
    },

    async readHost() {
      const text = (p: string) => readFile(join(root, p), 'utf8');
      const bootId = (await text('sys/kernel/random/boot_id')).trim();
      const kernel = (await text('sys/kernel/osrelease')).trim();
      const mem = /^MemTotal:\s+(\d+) kB/m.exec(await text('meminfo'));
      let aux = new Map<number, bigint>();
      for (const p of [join(root, 'self', 'auxv'), '/proc/self/auxv']) {
        try {
          aux = parseAuxv(await readFile(p), p);
          break;
        } catch {
          // A fixture tree has no self/auxv; the agent's own is the same kernel's answer.
        }
      }
      return {
        bootId,
        kernel,
        memTotalKb: mem?.[1] ? Number(mem[1]) : 0,
        pageSizeKb: Math.max(1, Math.round(Number(aux.get(AT_PAGESZ) ?? 4096n) / 1024)),
        clockTicksPerSec: Number(aux.get(AT_CLKTCK) ?? 100n),
      };
    },

    async readBootTimeMs() {
      const file = join(root, 'stat');
      try {
        return parseBootTimeMs(await readProcText(file, { maxBytes: PROC_STAT_MAX_BYTES }), file);
      } catch {
        // Without it the snapshot is still whole; the server then falls back to first-seen times.
        return undefined;
      }
    },

    memoryLimits() {
      const reader = new MemoryLimitReader();
      return (cg) => {
        const kb = reader.limitKb(cg);
        return typeof kb === 'number' && kb <= LIMITS.maxKb ? kb : undefined;
      };
    },
  };
}
