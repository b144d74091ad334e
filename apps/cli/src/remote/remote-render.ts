// Turns the files read from a host into pmap's output, with the same renderer as local PIDs. The
// steps mirror pmap 4.0.2 (reference §2, §12): /proc/PID must exist, the header comes from the
// PID's status (Tgid), stat and cmdline, and the map from /proc/TGID.

import {
  CMDLINE_BUFFER_BYTES,
  DEFAULT_SHM_MINOR,
  findShmMinor,
  PmapFormatError,
  type PmapOptions,
  type PmapProcess,
  parsePmapStat,
  parseSysvShmIds,
  processCommand,
  readsSmaps,
  renderProcess,
  SortFieldError,
  tgidFromStatus,
} from '@fleetpmap/pmap';
import type { ProcSource } from './proc-source.ts';
import type { RemoteRenderer, RenderResult } from './remote-pmap.ts';

/** pmap's exit status bits: 1 when a map could not be opened, 42 when a process was not found. */
const UNREADABLE = 1;
const NOT_FOUND = 42;

export type PmapLayout = Omit<PmapOptions, 'shmMinor'>;

/** One PID as pmap sees it on the host, or null when /proc/PID does not exist there. */
export async function readPmapProcess(
  source: ProcSource,
  pid: number,
  mapFile: 'maps' | 'smaps',
  utf8: boolean,
): Promise<{ proc: PmapProcess; shmMinor: number } | null> {
  if (!(await source.exists(pid))) return null;
  const status = await readText(source, `${pid}/status`);
  const tgid = tgidFromStatus(status, pid);
  const stat = parsePmapStat((await readText(source, `${pid}/stat`)) ?? '', utf8);
  const cmdline = ((await readText(source, `${pid}/cmdline`)) ?? '').slice(0, CMDLINE_BUFFER_BYTES);
  const mapText = await readText(source, `${tgid}/${mapFile}`);
  const shmIds = parseSysvShmIds((await readText(source, 'sysvipc/shm')) ?? '');
  const shmMinor = (mapText === null ? null : findShmMinor(mapText, shmIds)) ?? DEFAULT_SHM_MINOR;
  return {
    proc: {
      tgid,
      command: processCommand(cmdline, stat, utf8),
      startStack: stat.startStack,
      mapText,
    },
    shmMinor,
  };
}

/**
 * A renderer for one pmap invocation's layout. `utf8` is whether the output locale's codeset is
 * UTF-8 (it decides how the header escapes bytes); `program` prefixes pmap's own error messages.
 */
export function pmapRenderer(layout: PmapLayout, utf8: boolean, program = 'pmap'): RemoteRenderer {
  return async (source, pids) => {
    let text = '';
    const out = (chunk: string) => {
      text += chunk;
    };
    let exitCode = 0;
    let stderr = '';
    const mapFile = readsSmaps(layout.mode) ? 'smaps' : 'maps';
    for (const pid of pids) {
      const found = await readPmapProcess(source, pid, mapFile, utf8);
      if (found === null) {
        exitCode |= NOT_FOUND;
        continue;
      }
      const options: PmapOptions = { ...layout, shmMinor: found.shmMinor };
      // No mappings (a kernel thread): no rows to order, and no columns to order them by.
      if (found.proc.mapText === '') delete options.sort;
      const before = text.length;
      try {
        exitCode |= renderProcess(found.proc, options, out);
      } catch (error) {
        if (!(error instanceof PmapFormatError || error instanceof SortFieldError)) throw error;
        // pmap stops at a malformed smaps; the lines printed so far stay printed. A column this
        // host's kernel lacks prints nothing of the process.
        if (error instanceof SortFieldError) text = text.slice(0, before);
        stderr += `${program}: ${error.message}\n`;
        exitCode |= UNREADABLE;
        break;
      }
    }
    const result: RenderResult = { stdout: Buffer.from(text, 'latin1'), stderr, exitCode };
    return result;
  };
}

async function readText(source: ProcSource, path: string): Promise<string | null> {
  try {
    return (await source.read(path)).toString('latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ESRCH' || code === 'EIO') return null;
    throw error;
  }
}
