import { ProcfsParseError, quoteInput } from './errors.ts';
import { readProcText } from './read.ts';

/** PF_KTHREAD in include/linux/sched.h: the task is a kernel thread. */
const PF_KTHREAD = 0x00200000;

/** The fields of /proc/PID/stat (proc(5)) that fleetpmap uses. */
export interface ProcStat {
  pid: number;
  /** Task name as a byte string, between the first `(` and the last `)`; may hold spaces and `)`. */
  comm: string;
  /** One-letter state: R, S, D, Z, T, t, X, I, … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  ttyNr: number;
  tpgid: number;
  /** Kernel PF_* flags. */
  flags: number;
  minflt: number;
  majflt: number;
  utimeTicks: number;
  stimeTicks: number;
  priority: number;
  nice: number;
  numThreads: number;
  /** Field 22: start time after boot in clock ticks; with boot id and pid, the process identity. */
  startTicks: number;
  vsizeBytes: number;
  rssPages: number;
  /** Field 28: address of the start (bottom) of the main stack; 0 for kernel threads. */
  startStack: bigint;
  /** Field 39 when present: CPU last run on. */
  processor: number | null;
  kernelThread: boolean;
}

const MIN_FIELDS_AFTER_COMM = 26; // state (3) … startstack (28)

/** Parses /proc/PID/stat. `file` names the source in errors. */
export function parseStat(text: string, file: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) {
    throw new ProcfsParseError(file, 1, `no "(comm)" in ${quoteInput(text)}`);
  }
  const pid = toInt(text.slice(0, open).trim(), 'pid', file, false);
  const comm = text.slice(open + 1, close);
  let rest = text.slice(close + 1);
  if (rest.endsWith('\n')) rest = rest.slice(0, -1);
  if (rest.charCodeAt(0) !== 32) {
    throw new ProcfsParseError(file, 1, 'expected a space after the comm');
  }
  const f = rest.slice(1).split(' ');
  if (f.length < MIN_FIELDS_AFTER_COMM) {
    throw new ProcfsParseError(file, 1, `only ${f.length + 2} fields, need at least 28`);
  }
  // f[k] is field k + 3 in proc(5) numbering.
  const field = (n: number, name: string, signed = false): number =>
    toInt(f[n - 3] ?? '', name, file, signed);
  const state = f[0] ?? '';
  if (state.length !== 1) {
    throw new ProcfsParseError(file, 1, `bad state ${quoteInput(state)}`);
  }
  const flags = field(9, 'flags');
  const startStackText = f[25] ?? '';
  if (!/^\d{1,20}$/.test(startStackText)) {
    throw new ProcfsParseError(file, 1, `bad startstack ${quoteInput(startStackText)}`);
  }
  return {
    pid,
    comm,
    state,
    ppid: field(4, 'ppid'),
    pgrp: field(5, 'pgrp'),
    session: field(6, 'session'),
    ttyNr: field(7, 'tty_nr', true),
    tpgid: field(8, 'tpgid', true),
    flags,
    minflt: field(10, 'minflt'),
    majflt: field(12, 'majflt'),
    utimeTicks: field(14, 'utime'),
    stimeTicks: field(15, 'stime'),
    priority: field(18, 'priority', true),
    nice: field(19, 'nice', true),
    numThreads: field(20, 'num_threads'),
    startTicks: field(22, 'starttime'),
    vsizeBytes: field(23, 'vsize'),
    rssPages: field(24, 'rss', true),
    startStack: BigInt(startStackText),
    processor: f.length >= 37 ? field(39, 'processor', true) : null,
    kernelThread: (flags & PF_KTHREAD) !== 0,
  };
}

function toInt(s: string, name: string, file: string, signed: boolean): number {
  const digits = signed && s.startsWith('-') ? s.slice(1) : s;
  if (digits.length === 0 || digits.length > 20) {
    throw new ProcfsParseError(file, 1, `bad ${name} ${quoteInput(s)}`);
  }
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) throw new ProcfsParseError(file, 1, `bad ${name} ${quoteInput(s)}`);
  }
  // Counters beyond 2^53 (rsslim-like values) are not among the fields read as numbers.
  return Number(s);
}

/** Reads and parses `<procRoot>/<pid>/stat`. */
export async function readStat(pid: number | string, procRoot = '/proc'): Promise<ProcStat> {
  const path = `${procRoot}/${pid}/stat`;
  return parseStat(await readProcText(path), path);
}
