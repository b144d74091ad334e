// `fleetpmap HOST:PID… --at TIME [pmap options]`: the stored full map nearest to TIME, printed by
// the same pmap renderer as a live read. Without --at the same targets are read over SSH.

import type { AppRouter } from '@fleetpmap/api';
import {
  applyRange,
  DEFAULT_SHM_MINOR,
  FULL_RANGE,
  type PmapMode,
  type PmapOptions,
  processCommand,
  renderProcess,
} from '@fleetpmap/pmap';
import type { inferRouterOutputs } from '@trpc/server';
import { PMAP_LONG_OPTIONS } from '../pmap-mode/command-line.ts';
import { type GetoptSpec, getoptLong } from '../pmap-mode/getopt.ts';
import { utf8Codeset } from '../pmap-mode/locale.ts';
import { mapsText, smapsText, stackAddress } from './at-smaps.ts';
import { parseTimeMs } from './at-time.ts';
import { call } from './client.ts';
import { type Connection, resolveConnection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { isoTime, printable, printableBytes } from './format.ts';
import { parseHostPid } from './history.ts';

export type StoredMap = inferRouterOutputs<AppRouter>['map']['at'];

type Env = Readonly<Record<string, string | undefined>>;

/** The pmap flags a stored map can honour: its layouts, -q, -A and -p; not help or rc files. */
const AT_SHORT_OPTIONS = 'xXdqA:p';

const SPEC: Omit<GetoptSpec, 'posixlyCorrect'> = {
  shortOptions: AT_SHORT_OPTIONS,
  longOptions: PMAP_LONG_OPTIONS.filter((o) => AT_SHORT_OPTIONS.includes(o.val)),
  exactOptions: [
    { name: 'at', hasArg: true, val: 'at' },
    { name: 'json', hasArg: false, val: 'json' },
    { name: 'server', hasArg: true, val: 'server' },
    { name: 'token', hasArg: true, val: 'token' },
    { name: 'token-file', hasArg: true, val: 'token-file' },
    { name: 'config', hasArg: true, val: 'config' },
    { name: 'timeout', hasArg: true, val: 'timeout' },
  ],
};

/** Whether a command line asks for a stored map (`--at TIME` or `--at=TIME`). */
export function wantsStoredMap(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--at' || a.startsWith('--at=')) return true;
  }
  return false;
}

export type AtRequest = {
  targets: { host: string; pid: number }[];
  atMs: number;
  json: boolean;
  layout: PmapOptions;
  connection: Connection;
};

export function parseAtCommandLine(argv: readonly string[], env: Env, nowMs: number): AtRequest {
  const { events, operands } = getoptLong(argv, { ...SPEC, posixlyCorrect: false });
  let x = false;
  let X = 0;
  let d = false;
  let quiet = false;
  let showPath = false;
  let range = { ...FULL_RANGE };
  let at: string | undefined;
  let json = false;
  const flags: Record<string, string> = {};
  for (const e of events) {
    if (e.kind === 'error') throw new FleetCommandError(e.message);
    const arg = e.arg ?? '';
    if (e.opt === 'x') x = true;
    else if (e.opt === 'X') X++;
    else if (e.opt === 'd') d = true;
    else if (e.opt === 'q') quiet = true;
    else if (e.opt === 'p') showPath = true;
    else if (e.opt === 'json') json = true;
    else if (e.opt === 'at') at = arg;
    else if (e.opt === 'A') {
      const parsed = applyRange(arg, range);
      if (!parsed) throw new FleetCommandError(`failed to parse argument: '${arg}'`);
      range = parsed;
    } else flags[e.opt as string] = arg;
  }
  if ([d, x, X > 0].filter(Boolean).length > 1) {
    throw new FleetCommandError('options -d, -x, -X are mutually exclusive');
  }
  if (at === undefined) throw new FleetCommandError('--at needs a time');
  if (operands.length === 0) throw new FleetCommandError('--at needs HOST:PID targets');
  const mode: PmapMode = X >= 2 ? 'XX' : X === 1 ? 'X' : x ? 'extended' : d ? 'device' : 'default';
  return {
    targets: operands.map(parseHostPid),
    atMs: parseTimeMs(at, nowMs, '--at'),
    json,
    layout: { mode, quiet, showPath, range, shmMinor: DEFAULT_SHM_MINOR },
    connection: resolveConnection(
      {
        server: flags.server,
        token: flags.token,
        tokenFile: flags['token-file'],
        config: flags.config,
        timeout: flags.timeout,
      },
      env as NodeJS.ProcessEnv,
    ),
  };
}

export function fetchStoredMap(
  connection: Connection,
  target: { host: string; pid: number },
  atMs: number,
): Promise<StoredMap> {
  return call(connection, (c) => c.map.at.query({ ...target, atMs }));
}

/**
 * A command line or comm as the bytes pmap's renderer takes. pmap escapes control bytes itself,
 * and without UTF-8 every byte above 0x7F; with UTF-8 it keeps C1 and bidi controls, which here
 * come from a monitored host and must not reach the terminal either.
 */
function commandBytes(text: string, utf8: boolean): string {
  const bytes = Buffer.from(text, 'utf8').toString('latin1');
  return utf8 ? printableBytes(bytes, true) : bytes;
}

/**
 * pmap's output for a stored map, byte for byte what pmap printed for that map, except for the
 * characters `printable` withholds from a terminal.
 */
export function renderStoredMap(map: StoredMap, layout: PmapOptions, utf8: boolean): Buffer {
  const smaps = !(layout.mode === 'default' || layout.mode === 'device');
  let text = '';
  renderProcess(
    {
      tgid: map.pid,
      // The stored cmdline has its NULs turned into spaces already, which is what pmap prints.
      command: processCommand(
        commandBytes(map.cmdline, utf8),
        {
          comm: commandBytes(map.comm, utf8),
          state: 'S',
          ppid: 0,
          startStack: 0n,
        },
        utf8,
      ),
      startStack: stackAddress(map.mappings),
      mapText: smaps ? smapsText(map.mappings, utf8) : mapsText(map.mappings, utf8),
    },
    layout,
    (chunk) => {
      text += chunk;
    },
  );
  return Buffer.from(text, 'latin1');
}

/** Returns the exit status; results on stdout, which map was chosen on stderr. */
export async function runAt(argv: readonly string[], env: Env): Promise<number> {
  try {
    const req = parseAtCommandLine(argv, env, Date.now());
    const maps: StoredMap[] = [];
    for (const t of req.targets) maps.push(await fetchStoredMap(req.connection, t, req.atMs));
    if (req.json) {
      process.stdout.write(`${JSON.stringify(maps, null, 2)}\n`);
      return 0;
    }
    const utf8 = utf8Codeset(env);
    for (const m of maps) {
      process.stderr.write(
        `fleetpmap: ${printable(m.host)}:${m.pid} as stored at ${isoTime(m.takenAtMs)} ` +
          `(asked for ${isoTime(req.atMs)})\n`,
      );
      process.stdout.write(renderStoredMap(m, req.layout, utf8));
    }
    return 0;
  } catch (error) {
    if (!(error instanceof FleetCommandError)) throw error;
    process.stderr.write(`fleetpmap: ${error.message}\n`);
    return error.exitCode;
  }
}
