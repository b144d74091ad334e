import type { PmapProcess } from '@fleetpmap/pmap';
import {
  classifyProcess,
  type ProcessRegions,
  parseSmaps,
  type SmapsEntry,
} from '@fleetpmap/procfs';

/** One PID as --json and --summary see it: its pmap view, or why it has none. */
export type JsonProcess = { pid: number; proc: PmapProcess } | { pid: number; error: string };

export interface AnalysedProcess {
  pid: number;
  proc: PmapProcess;
  entries: SmapsEntry[];
  regions: ProcessRegions;
}

/** Parses and classifies a process's smaps; an error text when there is none to parse. */
export function analyse(p: { pid: number; proc: PmapProcess }): AnalysedProcess | string {
  if (p.proc.mapText === null) return 'smaps could not be read';
  let entries: SmapsEntry[];
  try {
    entries = parseSmaps(p.proc.mapText, `${p.proc.tgid}/smaps`);
  } catch (e) {
    return (e as Error).message;
  }
  return {
    pid: p.pid,
    proc: p.proc,
    entries,
    regions: classifyProcess(entries, p.proc.startStack),
  };
}
