import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  RegionAccumulator,
  readProcText,
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
  /** stat field 28: the main thread's stack start, for telling the main stack from the rest. */
  startStack: number;
  status: StatusSample;
}

/** Read once per process incarnation. Any field may be missing; `error` says why. */
export interface Identity {
  comm: string;
  commBase64?: string;
  cmdline: string;
  cmdlineBase64?: string;
  cmdlineTruncated?: boolean;
  exe?: string;
  exeBase64?: string;
  cgroup?: string;
  error?: ReadError;
}

export interface FullMap {
  regions: Regions;
  mappings: Mapping[];
}

export type HostFacts = Omit<Host, 'name' | 'labels'>;

/** Everything the collector reads; `procfsSource` reads a real (or fixture) proc tree. */
export interface ProcSource {
  listPids(): Promise<number[]>;
  readCheap(pid: number): Promise<ReadResult<CheapSample>>;
  readIdentity(pid: number): Promise<Identity>;
  readRollup(pid: number): Promise<ReadResult<Rollup>>;
  readFull(pid: number, startStack: number): Promise<ReadResult<FullMap>>;
  readHost(): Promise<HostFacts>;
}

/** Maps a thrown fs/parse error to the protocol's `{code, message}`. */
export function toReadError(err: unknown): ReadError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' && /^[A-Z0-9_]{1,32}$/.test(e.code) ? e.code : 'EUNKNOWN';
  const message = typeof e.message === 'string' ? e.message : String(err);
  return { code, message: message.slice(0, LIMITS.errorMessageChars) };
}

const STATUS_KEYS: Record<string, keyof StatusSample> = {
  VmSize: 'vmSizeKb',
  VmRSS: 'vmRssKb',
  RssAnon: 'rssAnonKb',
  RssFile: 'rssFileKb',
  RssShmem: 'rssShmemKb',
  VmSwap: 'vmSwapKb',
  VmData: 'vmDataKb',
  VmStk: 'vmStkKb',
  VmHWM: 'vmHwmKb',
};

/** Parses /proc/PID/stat; comm may hold spaces and parentheses, so fields count from the last `)`. */
export function parseStat(text: string): {
  comm: string;
  ppid: number;
  threads: number;
  startTicks: number;
  startStack: number;
} {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open)
    throw Object.assign(new Error('stat: no (comm)'), { code: 'EPARSE' });
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  // f[0] is field 3 (state): field n sits at f[n - 3].
  const num = (n: number) => {
    const v = Number(f[n - 3]);
    if (!Number.isSafeInteger(v) || v < 0) {
      throw Object.assign(new Error(`stat: field ${n} is not a count`), { code: 'EPARSE' });
    }
    return v;
  };
  return {
    comm: text.slice(open + 1, close),
    ppid: num(4),
    threads: num(20),
    startTicks: num(22),
    startStack: num(28),
  };
}

/** Parses /proc/PID/status: the memory lines (absent ones, as in kernel threads, are 0) and Uid. */
export function parseStatus(text: string): { status: StatusSample; uid: number; threads?: number } {
  const status: StatusSample = {
    vmSizeKb: 0,
    vmRssKb: 0,
    rssAnonKb: 0,
    rssFileKb: 0,
    rssShmemKb: 0,
    vmSwapKb: 0,
    vmDataKb: 0,
    vmStkKb: 0,
    vmHwmKb: 0,
  };
  let uid = -1;
  let threads: number | undefined;
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    const field = STATUS_KEYS[key];
    if (field) {
      const n = Number.parseInt(value, 10);
      if (Number.isSafeInteger(n) && n >= 0) status[field] = n;
    } else if (key === 'Uid') {
      uid = Number.parseInt(value, 10);
    } else if (key === 'Threads') {
      threads = Number.parseInt(value, 10);
    }
  }
  if (!Number.isSafeInteger(uid) || uid < 0) {
    throw Object.assign(new Error('status: no Uid line'), { code: 'EPARSE' });
  }
  return { status, uid, ...(threads !== undefined ? { threads } : {}) };
}

const ROLLUP_KEYS: Record<string, keyof Rollup> = {
  Rss: 'rssKb',
  Pss: 'pssKb',
  Pss_Anon: 'pssAnonKb',
  Pss_File: 'pssFileKb',
  Pss_Shmem: 'pssShmemKb',
  Shared_Clean: 'sharedCleanKb',
  Shared_Dirty: 'sharedDirtyKb',
  Private_Clean: 'privateCleanKb',
  Private_Dirty: 'privateDirtyKb',
  Anonymous: 'anonymousKb',
  Swap: 'swapKb',
  SwapPss: 'swapPssKb',
  Locked: 'lockedKb',
};

/** Parses /proc/PID/smaps_rollup (empty for kernel threads: every field 0). */
export function parseRollup(text: string): Rollup {
  const r: Rollup = {
    rssKb: 0,
    pssKb: 0,
    pssAnonKb: 0,
    pssFileKb: 0,
    pssShmemKb: 0,
    sharedCleanKb: 0,
    sharedDirtyKb: 0,
    privateCleanKb: 0,
    privateDirtyKb: 0,
    anonymousKb: 0,
    swapKb: 0,
    swapPssKb: 0,
    lockedKb: 0,
  };
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB$/.exec(line);
    const field = m?.[1] ? ROLLUP_KEYS[m[1]] : undefined;
    if (field && m?.[2]) r[field] = Number(m[2]);
  }
  return r;
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

/** Reads the auxiliary vector for AT_PAGESZ (6) and AT_CLKTCK (17): the kernel's own values. */
export function parseAuxv(buf: Buffer): { pageSize?: number; clockTicks?: number } {
  const out: { pageSize?: number; clockTicks?: number } = {};
  for (let off = 0; off + 16 <= buf.length; off += 16) {
    const type = Number(buf.readBigUInt64LE(off));
    const value = Number(buf.readBigUInt64LE(off + 8));
    if (type === 0) break;
    if (type === 6) out.pageSize = value;
    if (type === 17) out.clockTicks = value;
  }
  return out;
}

/** Cap for the small per-process text files; a larger one is corrupt or hostile. */
const SMALL_FILE_MAX = 1024 * 1024;

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

export interface ProcfsSourceOptions {
  procRoot: string;
  /** Cap for one smaps text, bytes. */
  maxSmapsBytes?: number;
}

/** Reads a proc tree: the real `/proc`, or a fixture directory laid out the same way. */
export function procfsSource(opts: ProcfsSourceOptions): ProcSource {
  const root = opts.procRoot;
  const at = (pid: number, file: string) => join(root, String(pid), file);
  const small = readSmallSync;

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
        const st = parseStat(small(at(pid, 'stat')));
        const s = parseStatus(small(at(pid, 'status')));
        return {
          ok: true,
          value: {
            pid,
            ppid: st.ppid,
            uid: s.uid,
            startTicks: st.startTicks,
            threads: s.threads ?? st.threads,
            statComm: st.comm,
            startStack: st.startStack,
            status: s.status,
          },
        };
      } catch (err) {
        return { ok: false, error: toReadError(err) };
      }
    },

    async readIdentity(pid) {
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
      attempt(() => {
        const raw = Buffer.from(small(at(pid, 'cmdline')), 'latin1');
        for (let i = 0; i < raw.length; i++) if (raw[i] === 0) raw[i] = 0x20;
        let end = raw.length;
        while (end > 0 && raw[end - 1] === 0x20) end--;
        const bytes = raw.subarray(0, end);
        const t = wireText(bytes, LIMITS.cmdlineChars);
        id.cmdline = t.text;
        if (t.base64 !== undefined) id.cmdlineBase64 = t.base64;
        if (t.text.length < bytes.toString('utf8').length) id.cmdlineTruncated = true;
      });
      attempt(() => {
        const text = small(at(pid, 'cgroup'));
        // Unified hierarchy: the `0::/path` line (cgroup v2, Documentation/admin-guide/cgroup-v2.rst).
        const line = text.split('\n').find((l) => l.startsWith('0::'));
        if (line) id.cgroup = wireTextLatin1(line.slice(3), LIMITS.cgroupChars).text;
      });
      try {
        const target = readlinkSync(at(pid, 'exe'), { encoding: 'buffer' });
        const t = wireText(target, LIMITS.pathChars);
        id.exe = t.text;
        if (t.base64 !== undefined) id.exeBase64 = t.base64;
      } catch (err) {
        // Kernel threads have no exe; that is not a failure worth reporting.
        const code = (err as { code?: string }).code;
        if (code !== 'ENOENT') errors.push(toReadError(err));
      }
      const first = errors[0];
      if (first) id.error = first;
      return id;
    },

    async readRollup(pid) {
      try {
        const text = await readProcText(at(pid, 'smaps_rollup'), { maxBytes: SMALL_FILE_MAX });
        return { ok: true, value: parseRollup(text) };
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
      let aux: { pageSize?: number; clockTicks?: number } = {};
      for (const p of [join(root, 'self', 'auxv'), '/proc/self/auxv']) {
        try {
          aux = parseAuxv(await readFile(p));
          break;
        } catch {
          // A fixture tree has no self/auxv; the agent's own is the same kernel's answer.
        }
      }
      return {
        bootId,
        kernel,
        memTotalKb: mem?.[1] ? Number(mem[1]) : 0,
        pageSizeKb: Math.max(1, Math.round((aux.pageSize ?? 4096) / 1024)),
        clockTicksPerSec: aux.clockTicks ?? 100,
      };
    },
  };
}
