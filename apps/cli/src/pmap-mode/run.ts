// `fleetpmap [options] PID…`: procps-ng pmap 4.0.2, byte for byte (stdout, stderr, exit status),
// with the differences listed in docs/pmap-compat.md, plus --json, --sort and --summary.

import { closeSync, openSync, writeSync } from 'node:fs';
import {
  applyRange,
  DEFAULT_SHM_MINOR,
  FULL_RANGE,
  findShmMinor,
  PmapFormatError,
  type PmapMode,
  type PmapOptions,
  type PmapProcess,
  parsePidArgument,
  parsePmapStat,
  parseRcFile,
  parseSysvShmIds,
  processCommand,
  RC_TEMPLATE,
  readsSmaps,
  renderProcess,
  SortFieldError,
  tgidFromStatus,
} from '@fleetpmap/pmap';
import { ExitError } from '../errors.ts';
import {
  EXTENSION_OPTIONS,
  fleetpmapVersion,
  PMAP_LONG_OPTIONS,
  PMAP_SHORT_OPTIONS,
  sortFieldError,
} from './command-line.ts';
import type { JsonProcess } from './extension-data.ts';
import { type GetoptSpec, getoptLong } from './getopt.ts';
import { utf8Codeset } from './locale.ts';
import { PmapOutput } from './output.ts';
import { procRoot, readMapText, readPrefix, readSmall, statable } from './proc-files.ts';
import { USAGE } from './usage.ts';

const SPEC: Omit<GetoptSpec, 'posixlyCorrect'> = {
  shortOptions: PMAP_SHORT_OPTIONS,
  longOptions: PMAP_LONG_OPTIONS,
  exactOptions: EXTENSION_OPTIONS,
};

/** An rc file names a few dozen fields; this bounds what a hostile one can make us hold. */
const RC_MAX_BYTES = 16 * 1024 * 1024;
/** libproc2 selects at most this many PIDs at once. */
const MAX_PIDS = 255;
/** Environment of the run: process.env, or a test's. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Byte string (latin1) to a path Buffer, so non-UTF-8 names reach the file system intact. */
function pathBytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

// pmap's config_create: an existing file (anything fopen(…, "r") opens) is never overwritten.
function createRcFile(path: string, io: PmapOutput): boolean {
  try {
    closeSync(openSync(pathBytes(path), 'r'));
    io.warn('the file already exists - delete or rename it first');
    return false;
  } catch {
    // Not readable: try to create it.
  }
  let fd: number;
  try {
    fd = openSync(pathBytes(path), 'w');
  } catch {
    return false;
  }
  try {
    writeSync(fd, Buffer.from(RC_TEMPLATE, 'latin1'));
  } catch {
    // pmap ignores errors while writing the template.
  } finally {
    closeSync(fd);
  }
  return true;
}

// pmap's config_read: null when the file cannot be opened; a directory reads as empty.
function readRcText(path: string): string | null {
  return readPrefix(pathBytes(path), RC_MAX_BYTES);
}

function defaultRcPath(env: Env, io: PmapOutput): string {
  const home = env.HOME;
  if (home === undefined) {
    io.warn('HOME variable undefined');
    throw new ExitError(1);
  }
  return `${Buffer.from(home, 'utf8').toString('latin1')}/.pmaprc`;
}

function usageError(io: PmapOutput): never {
  io.err(USAGE);
  throw new ExitError(1);
}

function fatal(io: PmapOutput, message: string): never {
  io.warn(message);
  throw new ExitError(1);
}

interface Parsed {
  x: boolean;
  X: number;
  d: boolean;
  q: boolean;
  c: boolean;
  C: boolean;
  n: boolean;
  N: boolean;
  showPath: boolean;
  range: { low: bigint; high: bigint };
  rcFile: string | null;
  json: boolean;
  summary: boolean;
  sort: string | undefined;
  operands: string[];
}

function parseCommandLine(argv: readonly string[], env: Env, io: PmapOutput): Parsed {
  const { events, operands } = getoptLong(argv, {
    ...SPEC,
    posixlyCorrect: env.POSIXLY_CORRECT !== undefined,
  });
  const p: Parsed = {
    x: false,
    X: 0,
    d: false,
    q: false,
    c: false,
    C: false,
    n: false,
    N: false,
    showPath: false,
    range: { ...FULL_RANGE },
    rcFile: null,
    json: false,
    summary: false,
    sort: undefined,
    operands,
  };
  for (const ev of events) {
    if (ev.kind === 'error') {
      io.warn(ev.message);
      usageError(io);
    }
    const arg = ev.arg ?? '';
    switch (ev.opt) {
      case 'x':
        p.x = true;
        break;
      case 'X':
        p.X++;
        break;
      case 'r':
        io.warn('option -r is ignored as SunOS compatibility');
        break;
      case 'd':
        p.d = true;
        break;
      case 'q':
        p.q = true;
        break;
      case 'A': {
        const r = applyRange(arg, p.range);
        if (!r) fatal(io, `failed to parse argument: '${arg}'`);
        p.range = r;
        break;
      }
      case 'h':
        io.out(USAGE);
        throw new ExitError(0);
      case 'V':
        io.out(fleetpmapVersion());
        throw new ExitError(0);
      case 'c':
        p.c = true;
        break;
      case 'C':
        p.C = true;
        p.rcFile = arg;
        break;
      case 'n':
        p.n = true;
        break;
      case 'N':
        p.N = true;
        p.rcFile = arg;
        break;
      case 'p':
        p.showPath = true;
        break;
      case 'json':
        p.json = true;
        break;
      case 'summary':
        p.summary = true;
        break;
      case 'sort':
        p.sort = arg;
        break;
      default:
        usageError(io);
    }
  }
  return p;
}

function modeOf(p: Parsed): PmapMode {
  if (p.c) return 'rc';
  if (p.X >= 2) return 'XX';
  if (p.X === 1) return 'X';
  if (p.x) return 'extended';
  if (p.d) return 'device';
  return 'default';
}

/** PID arguments as pmap accepts them; null for `/proc/<non-digit>` (skipped silently). */
function parsePid(arg: string, io: PmapOutput): number | null {
  let walk = arg;
  if (walk.startsWith('/proc/')) {
    walk = walk.slice(6);
    if (!/^[0-9]/.test(walk)) return null;
  }
  if (!/^[0-9]/.test(walk)) usageError(io);
  const v = parsePidArgument(walk);
  if (v === null) usageError(io);
  return v;
}

/** libproc2's view of one PID, or null when it does not exist for pmap. */
function readProcess(
  root: string,
  pid: number,
  env: Env,
  utf8: boolean,
): Omit<PmapProcess, 'mapText'> | null {
  const dir = `${root}/${pid}`;
  if (!statable(dir)) return null;
  const statText = readSmall(`${dir}/stat`);
  if (statText === null) return null;
  const stat = parsePmapStat(statText, utf8);
  if (env.LIBPROC_HIDE_KERNEL !== undefined && (stat.ppid === 2 || pid === 2)) return null;
  const tgid = tgidFromStatus(readSmall(`${dir}/status`), pid);
  const cmdline = readPrefix(`${dir}/cmdline`, 131072) ?? '';
  return { tgid, command: processCommand(cmdline, stat, utf8), startStack: stat.startStack };
}

async function pmapMain(argv: readonly string[], env: Env, io: PmapOutput): Promise<number> {
  if (argv.length === 0) usageError(io);
  const p = parseCommandLine(argv, env, io);
  let argc = p.operands.length;

  const exclusive = [p.c, p.C, p.d, p.n, p.N, p.x, p.X > 0].filter(Boolean).length;
  if (exclusive > 1) fatal(io, 'options -c, -C, -d, -n, -N, -x, -X are mutually exclusive');
  if ((p.n || p.N) && (p.q || p.showPath)) {
    fatal(io, 'options -p, -q are mutually exclusive with -n, -N');
  }
  if ((p.n || p.N) && argc > 0) fatal(io, 'too many arguments');
  if (p.N) {
    if (!createRcFile(p.rcFile ?? '', io)) fatal(io, "couldn't create the rc file");
    io.warn('rc file successfully created, feel free to edit the content');
    return 0;
  }
  if (p.n) {
    if (!createRcFile(defaultRcPath(env, io), io)) fatal(io, "couldn't create ~/.pmaprc");
    io.warn('~/.pmaprc file successfully created, feel free to edit the content');
    return 0;
  }
  if (argc < 1) fatal(io, 'argument missing');

  let rcFields: Set<string> | undefined;
  let showPath = p.showPath;
  if (p.C) p.c = true;
  if (p.c) {
    const path = p.C ? (p.rcFile ?? '') : defaultRcPath(env, io);
    const text = readRcText(path);
    if (text === null) {
      if (p.C) fatal(io, "couldn't read the rc file");
      io.warn("couldn't read ~/.pmaprc");
      return 1;
    }
    const rc = parseRcFile(text);
    for (const w of rc.warnings) io.warn(w);
    rcFields = rc.fields;
    if (rc.toggleShowPath) showPath = !showPath;
  }

  const pids: number[] = [];
  for (const arg of p.operands) {
    const pid = parsePid(arg, io);
    if (pid !== null) pids.push(pid);
  }
  argc = pids.length;
  if (argc < 1 || argc > MAX_PIDS) fatal(io, 'library failed pids statistics');

  const mode = modeOf(p);
  // Before any output: a bad field is reported alone, not after the first header.
  if (p.sort !== undefined && !p.json && !p.summary) {
    const error = sortFieldError(mode, p.sort, rcFields);
    if (error !== null) fatal(io, error.message);
  }
  const opts: PmapOptions = {
    mode,
    quiet: p.q,
    showPath,
    range: p.range,
    shmMinor: DEFAULT_SHM_MINOR,
    ...(rcFields ? { rcFields } : {}),
    ...(p.sort !== undefined ? { sort: p.sort } : {}),
  };

  const root = procRoot(env);
  const utf8 = utf8Codeset(env);
  const shmIds = parseSysvShmIds(readSmall(`${root}/sysvipc/shm`) ?? '');
  const extension = p.json || p.summary;
  let status = 0;
  let missing = false;
  const collected: JsonProcess[] = [];
  for (const pid of pids) {
    const info = readProcess(root, pid, env, utf8);
    if (!info) {
      missing = true;
      if (p.json) collected.push({ pid, error: 'not found' });
      continue;
    }
    const file = extension || readsSmaps(mode) ? 'smaps' : 'maps';
    const mapText = readMapText(`${root}/${info.tgid}/${file}`);
    const proc: PmapProcess = { ...info, mapText };
    if (extension) {
      if (mapText === null) status |= 1;
      const entry: JsonProcess = { pid, proc };
      if (p.json) collected.push(entry);
      else (await import('./summary.ts')).renderSummary(entry, io.out);
      continue;
    }
    const shmMinor = mapText === null ? null : findShmMinor(mapText, shmIds);
    const procOpts: PmapOptions = { ...opts, shmMinor: shmMinor ?? DEFAULT_SHM_MINOR };
    // No mappings (a kernel thread): no rows to order, and no columns to order them by.
    if (mapText === '') delete procOpts.sort;
    // Sorted, a process is printed once whole, so a column its kernel lacks prints nothing of it.
    let text = '';
    const sorted = procOpts.sort !== undefined;
    const out = sorted
      ? (chunk: string) => {
          text += chunk;
        }
      : io.out;
    try {
      status |= renderProcess(proc, procOpts, out);
    } catch (e) {
      if (e instanceof PmapFormatError) io.out(text);
      if (e instanceof PmapFormatError || e instanceof SortFieldError) fatal(io, e.message);
      throw e;
    }
    if (sorted) io.out(text);
  }
  // The extensions load procfs's parser and classifier only when asked for.
  if (p.json) io.out((await import('./json.ts')).renderJson(collected));
  if (missing) status |= 42;
  return status;
}

/**
 * Runs pmap mode and returns the exit status. `argv` holds the arguments after the program
 * name; Node decodes them as UTF-8, so they are turned back into the bytes the user typed.
 */
export async function runPmap(
  argv: readonly string[],
  env: Env,
  io: PmapOutput = new PmapOutput(),
): Promise<number> {
  const bytes = argv.map((a) => Buffer.from(a, 'utf8').toString('latin1'));
  let status: number;
  try {
    status = await pmapMain(bytes, env, io);
  } catch (e) {
    if (!(e instanceof ExitError)) throw e;
    status = e.exitCode;
  }
  return io.close(status);
}
