// Turns the files read from a host into pmap's output, with the same renderer as local PIDs. The
// steps mirror pmap 4.0.2 (reference §2, §12): /proc/PID must exist, the header comes from the
// PID's status (Tgid), stat and cmdline, and the map from /proc/TGID.

import {
  CMDLINE_BUFFER_BYTES,
  DEFAULT_SHM_MINOR,
  findShmMinor,
  PmapFormatError,
  type PmapOptions,
  parsePmapStat,
  parseSysvShmIds,
  processCommand,
  readsSmaps,
  renderProcess,
  tgidFromStatus,
} from '@fleetpmap/pmap';
import type { ProcSource } from './proc-source.ts';
import type { RemoteRenderer, RenderResult } from './remote-pmap.ts';

/** pmap's exit status bits: 1 when a map could not be opened, 42 when a process was not found. */
const UNREADABLE = 1;
const NOT_FOUND = 42;

/**
 * A renderer for one pmap invocation's options. `utf8` is whether the output locale's codeset is
 * UTF-8 (it decides how the header escapes bytes); `program` prefixes error messages.
 */
export function pmapRenderer(
  options: Omit<PmapOptions, 'shmMinor'>,
  utf8: boolean,
  program = 'pmap',
): RemoteRenderer {
  return (source, pids) => renderPids(source, pids, options, utf8, program);
}

async function renderPids(
  source: ProcSource,
  pids: readonly number[],
  options: Omit<PmapOptions, 'shmMinor'>,
  utf8: boolean,
  program: string,
): Promise<RenderResult> {
  const chunks: string[] = [];
  const out = (text: string) => {
    chunks.push(text);
  };
  let exitCode = 0;
  let stderr = '';
  const shmIds = parseSysvShmIds((await readText(source, 'sysvipc/shm')) ?? '');
  const mapFile = readsSmaps(options.mode) ? 'smaps' : 'maps';
  for (const pid of pids) {
    if (!(await source.exists(pid))) {
      exitCode |= NOT_FOUND;
      continue;
    }
    const status = await readText(source, `${pid}/status`);
    const tgid = tgidFromStatus(status, pid);
    const stat = parsePmapStat((await readText(source, `${pid}/stat`)) ?? '', utf8);
    const cmdline = ((await readText(source, `${pid}/cmdline`)) ?? '').slice(
      0,
      CMDLINE_BUFFER_BYTES,
    );
    const mapText = await readText(source, `${tgid}/${mapFile}`);
    const shmMinor = (mapText === null ? null : findShmMinor(mapText, shmIds)) ?? DEFAULT_SHM_MINOR;
    try {
      exitCode |= renderProcess(
        {
          tgid,
          command: processCommand(cmdline, stat, utf8),
          startStack: stat.startStack,
          mapText,
        },
        { ...options, shmMinor },
        out,
      );
    } catch (error) {
      if (!(error instanceof PmapFormatError)) throw error;
      // pmap stops at a malformed smaps; the lines printed so far stay printed.
      stderr += `${program}: ${error.message}\n`;
      exitCode |= UNREADABLE;
      break;
    }
    if (mapText === null) exitCode |= UNREADABLE;
  }
  return { stdout: Buffer.from(chunks.join(''), 'latin1'), stderr, exitCode };
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

/** Whether the locale's codeset is UTF-8, from LC_ALL, LC_CTYPE and LANG as setlocale(3) reads them. */
export function isUtf8Locale(env: NodeJS.ProcessEnv = process.env): boolean {
  const locale = env.LC_ALL || env.LC_CTYPE || env.LANG || '';
  return /utf-?8/i.test(locale);
}
