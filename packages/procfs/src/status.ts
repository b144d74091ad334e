import { ProcfsParseError, quoteInput } from './errors.ts';
import { readProcText } from './read.ts';

/** /proc/PID/status: every field as text, plus the typed values fleetpmap uses. */
export interface ProcStatus {
  /** Every `Key:\tvalue` line, value trimmed, as printed. */
  fields: Record<string, string>;
  /** `Name:` as the kernel prints it here (escaped, unlike comm). */
  name: string;
  state: string;
  tgid: number;
  pid: number;
  ppid: number;
  /** Real, effective, saved and filesystem uid. */
  uids: [number, number, number, number];
  threads: number;
  /** False for kernel threads and zombies: no Vm* lines, every `…Kb` below is 0. */
  hasMm: boolean;
  vmPeakKb: number;
  vmSizeKb: number;
  vmLckKb: number;
  vmHwmKb: number;
  vmRssKb: number;
  rssAnonKb: number;
  rssFileKb: number;
  rssShmemKb: number;
  vmDataKb: number;
  vmStkKb: number;
  vmExeKb: number;
  vmLibKb: number;
  vmPteKb: number;
  vmSwapKb: number;
}

const MAX_LINES = 4096;

/** Parses /proc/PID/status. `file` names the source in errors. */
export function parseStatus(text: string, file: string): ProcStatus {
  const fields: Record<string, string> = {};
  let s = 0;
  let line = 0;
  while (s < text.length) {
    let e = text.indexOf('\n', s);
    if (e < 0) e = text.length;
    line++;
    if (line > MAX_LINES) throw new ProcfsParseError(file, line, 'too many lines');
    const colon = text.indexOf(':', s);
    if (colon < 0 || colon >= e || colon === s) {
      throw new ProcfsParseError(
        file,
        line,
        `expected "Key:<tab>value", got ${quoteInput(text.slice(s, e))}`,
      );
    }
    const key = text.slice(s, colon);
    if (key === '__proto__') throw new ProcfsParseError(file, line, 'reserved field name');
    fields[key] = text.slice(colon + 1, e).trim();
    s = e + 1;
  }
  const int = (key: string, fallback?: number): number => {
    const v = fields[key];
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new ProcfsParseError(file, 0, `missing field ${key}`);
    }
    if (!/^\d{1,19}$/.test(v)) throw new ProcfsParseError(file, 0, `bad ${key} ${quoteInput(v)}`);
    return Number(v);
  };
  const kb = (key: string): number => {
    const v = fields[key];
    if (v === undefined) return 0;
    const m = /^(\d{1,19}) kB$/.exec(v);
    if (m === null) throw new ProcfsParseError(file, 0, `bad ${key} ${quoteInput(v)}`);
    return Number(m[1]);
  };
  const uidText = fields.Uid ?? '';
  const uidParts = uidText.split(/\s+/);
  if (uidParts.length !== 4 || !uidParts.every((u) => /^\d{1,10}$/.test(u))) {
    throw new ProcfsParseError(file, 0, `bad Uid ${quoteInput(uidText)}`);
  }
  const uids = uidParts.map(Number) as [number, number, number, number];
  return {
    fields,
    name: fields.Name ?? '',
    state: (fields.State ?? '').slice(0, 1),
    tgid: int('Tgid'),
    pid: int('Pid'),
    ppid: int('PPid'),
    uids,
    threads: int('Threads', 1),
    hasMm: fields.VmSize !== undefined,
    vmPeakKb: kb('VmPeak'),
    vmSizeKb: kb('VmSize'),
    vmLckKb: kb('VmLck'),
    vmHwmKb: kb('VmHWM'),
    vmRssKb: kb('VmRSS'),
    rssAnonKb: kb('RssAnon'),
    rssFileKb: kb('RssFile'),
    rssShmemKb: kb('RssShmem'),
    vmDataKb: kb('VmData'),
    vmStkKb: kb('VmStk'),
    vmExeKb: kb('VmExe'),
    vmLibKb: kb('VmLib'),
    vmPteKb: kb('VmPTE'),
    vmSwapKb: kb('VmSwap'),
  };
}

/** Reads and parses `<procRoot>/<pid>/status`. */
export async function readStatus(pid: number | string, procRoot = '/proc'): Promise<ProcStatus> {
  const path = `${procRoot}/${pid}/status`;
  return parseStatus(await readProcText(path), path);
}
