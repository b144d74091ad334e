// `fleetpmap [pmap options] [ssh options] HOST:PID…`: the command line of remote pmap mode. pmap's
// own options mean what they mean locally (so -p stays --show-path; the SSH port is --port), and
// the SSH options follow ssh(1) where they do not collide: -F FILE, -l USER, -i KEY.

import { readFileSync } from 'node:fs';
import { applyRange, FULL_RANGE, type PmapMode, parseRcFile } from '@fleetpmap/pmap';
import { ExitError } from '../errors.ts';
import {
  EXTENSION_OPTIONS,
  fleetpmapVersion,
  PMAP_LONG_OPTIONS,
  PMAP_SHORT_OPTIONS,
  sortFieldError,
} from '../pmap-mode/command-line.ts';
import { type GetoptSpec, getoptLong } from '../pmap-mode/getopt.ts';
import type { JsonProcess } from '../pmap-mode/json.ts';
import { utf8Codeset } from '../pmap-mode/locale.ts';
import { PmapOutput } from '../pmap-mode/output.ts';
import { USAGE } from '../pmap-mode/usage.ts';
import { type RemoteRenderer, runRemotePmap } from './remote-pmap.ts';
import { type PmapLayout, pmapRenderer, readPmapProcess } from './remote-render.ts';
import type { SshOptions } from './ssh-settings.ts';
import { isRemoteTargetArg, parseRemoteTarget, type RemoteTarget, TargetError } from './target.ts';

type Env = Readonly<Record<string, string | undefined>>;

const SPEC: Omit<GetoptSpec, 'posixlyCorrect'> = {
  shortOptions: `${PMAP_SHORT_OPTIONS}F:l:i:`,
  longOptions: PMAP_LONG_OPTIONS,
  // Spelled out in full only, so pmap's long-option abbreviations resolve as they do in pmap.
  exactOptions: [
    ...EXTENSION_OPTIONS,
    { name: 'port', hasArg: true, val: 'port' },
    { name: 'sudo', hasArg: false, val: 'sudo' },
    { name: 'parallel', hasArg: true, val: 'parallel' },
    { name: 'accept-new-host-keys', hasArg: false, val: 'accept-new' },
    { name: 'connect-timeout', hasArg: true, val: 'connect-timeout' },
    { name: 'read-timeout', hasArg: true, val: 'read-timeout' },
  ],
};

const DEFAULT_PARALLEL = 8;
const MAX_PARALLEL = 256;
const DEFAULT_READ_TIMEOUT_MS = 60_000;
const MAX_TIMEOUT_S = 3600;
const RC_MAX_BYTES = 16 * 1024 * 1024;

export const REMOTE_USAGE = [
  'Remote targets:',
  ' fleetpmap [pmap options] [ssh options] HOST:PID|HOST:comm=NAME ...',
  '',
  'SSH options:',
  ' -F FILE                     ssh_config file instead of ~/.ssh/config',
  ' -l USER                     log in as USER',
  ' -i KEY                      identity (private key) file; may be repeated',
  " --port PORT                 SSH port (-p is pmap's --show-path)",
  ' --sudo                      read through "sudo -n" on the host',
  ' --parallel N                hosts read at once (default 8)',
  ' --accept-new-host-keys      record unknown host keys; changed keys are always refused',
  ' --connect-timeout SECONDS   per connection (default: ConnectTimeout, else 15)',
  ' --read-timeout SECONDS      per host read (default 60)',
  '',
].join('\n');

/** Whether this command line names remote targets (checked before any parsing). */
export function hasRemoteTargets(argv: readonly string[]): boolean {
  return argv.some(isRemoteTargetArg);
}

/** Remote pmap mode; returns the exit status. */
export async function runRemoteCli(
  argv: readonly string[],
  env: Env,
  io: PmapOutput = new PmapOutput(),
): Promise<number> {
  // A colon can also sit in an option's argument (`-C ./a:b`); with no remote operand at all this
  // is an ordinary local pmap call.
  const { operands } = getoptLong(argv, {
    ...SPEC,
    posixlyCorrect: env.POSIXLY_CORRECT !== undefined,
  });
  if (!operands.some(isRemoteTargetArg)) {
    const { runPmap } = await import('../pmap-mode/run.ts');
    return runPmap(argv, env, io);
  }
  let status: number;
  try {
    status = await remoteMain(argv, env, io);
  } catch (error) {
    if (!(error instanceof ExitError)) throw error;
    status = error.exitCode;
  }
  return io.close(status);
}

function fail(io: PmapOutput, message: string): never {
  io.err(`fleetpmap: ${message}\n`);
  throw new ExitError(1);
}

function seconds(io: PmapOutput, name: string, text: string): number {
  const value = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(value > 0 && value <= MAX_TIMEOUT_S)) {
    fail(io, `--${name} wants a number of seconds between 0 and ${MAX_TIMEOUT_S}, not '${text}'`);
  }
  return Math.round(value * 1000);
}

async function remoteMain(argv: readonly string[], env: Env, io: PmapOutput): Promise<number> {
  const { events, operands } = getoptLong(argv, {
    ...SPEC,
    posixlyCorrect: env.POSIXLY_CORRECT !== undefined,
  });
  let x = false;
  let X = 0;
  let d = false;
  let quiet = false;
  let showPath = false;
  let range = { ...FULL_RANGE };
  let rcPath: string | null = null;
  let rc = false;
  let rcFrom = false;
  let json = false;
  let summary = false;
  let sort: string | undefined;
  const ssh: SshOptions = {
    configFile: undefined,
    user: undefined,
    port: undefined,
    identityFiles: [],
    acceptNewHostKeys: false,
    connectTimeoutMs: undefined,
  };
  let sudo = false;
  let parallel = DEFAULT_PARALLEL;
  let readTimeoutMs = DEFAULT_READ_TIMEOUT_MS;

  for (const event of events) {
    if (event.kind === 'error') {
      io.warn(event.message);
      io.err(USAGE);
      throw new ExitError(1);
    }
    const arg = event.arg ?? '';
    switch (event.opt) {
      case 'x':
        x = true;
        break;
      case 'X':
        X++;
        break;
      case 'r':
        io.warn('option -r is ignored as SunOS compatibility');
        break;
      case 'd':
        d = true;
        break;
      case 'q':
        quiet = true;
        break;
      case 'A': {
        const parsed = applyRange(arg, range);
        if (!parsed) {
          io.warn(`failed to parse argument: '${arg}'`);
          throw new ExitError(1);
        }
        range = parsed;
        break;
      }
      case 'h':
        io.out(USAGE);
        io.out(REMOTE_USAGE);
        throw new ExitError(0);
      case 'V':
        io.out(fleetpmapVersion());
        throw new ExitError(0);
      case 'c':
        rc = true;
        break;
      case 'C':
        rcFrom = true;
        rcPath = arg;
        break;
      case 'n':
      case 'N':
        fail(io, '-n and -N create a local rc file and take no HOST:PID targets');
        break;
      case 'p':
        showPath = true;
        break;
      case 'json':
        json = true;
        break;
      case 'summary':
        summary = true;
        break;
      case 'sort':
        sort = arg;
        break;
      case 'F':
        ssh.configFile = arg;
        break;
      case 'l':
        if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/.test(arg)) fail(io, `invalid user name '${arg}'`);
        ssh.user = arg;
        break;
      case 'i':
        ssh.identityFiles.push(arg);
        break;
      case 'port': {
        const port = /^[0-9]{1,5}$/.test(arg) ? Number(arg) : 0;
        if (port < 1 || port > 65535) fail(io, `bad port '${arg}'`);
        ssh.port = port;
        break;
      }
      case 'sudo':
        sudo = true;
        break;
      case 'parallel':
        parallel = /^[0-9]{1,4}$/.test(arg) ? Number(arg) : 0;
        if (parallel < 1 || parallel > MAX_PARALLEL) {
          fail(io, `--parallel wants a number from 1 to ${MAX_PARALLEL}, not '${arg}'`);
        }
        break;
      case 'accept-new':
        ssh.acceptNewHostKeys = true;
        break;
      case 'connect-timeout':
        ssh.connectTimeoutMs = seconds(io, 'connect-timeout', arg);
        break;
      case 'read-timeout':
        readTimeoutMs = seconds(io, 'read-timeout', arg);
        break;
      default:
        io.err(USAGE);
        throw new ExitError(1);
    }
  }

  if ([rc, rcFrom, d, x, X > 0].filter(Boolean).length > 1) {
    io.warn('options -c, -C, -d, -n, -N, -x, -X are mutually exclusive');
    throw new ExitError(1);
  }
  if (operands.length === 0) {
    io.warn('argument missing');
    throw new ExitError(1);
  }
  const local = operands.filter((arg) => !isRemoteTargetArg(arg));
  for (const arg of local) {
    // `1:2` beside real targets: a typed host of digits only is refused by name.
    if (!arg.includes(':') || arg.startsWith('/proc/')) continue;
    try {
      parseRemoteTarget(arg);
    } catch (error) {
      if (error instanceof TargetError) fail(io, error.message);
      throw error;
    }
  }
  if (local.length > 0) {
    fail(io, `local PIDs and HOST:PID targets cannot be mixed ('${local[0]}')`);
  }

  let rcFields: Set<string> | undefined;
  rc ||= rcFrom;
  if (rc) {
    const path = rcPath ?? (env.HOME === undefined ? null : `${env.HOME}/.pmaprc`);
    if (path === null) {
      io.warn('HOME variable undefined');
      throw new ExitError(1);
    }
    let text: string;
    try {
      text = readFileSync(path).subarray(0, RC_MAX_BYTES).toString('latin1');
    } catch {
      io.warn(rcPath === null ? "couldn't read ~/.pmaprc" : "couldn't read the rc file");
      throw new ExitError(1);
    }
    const parsed = parseRcFile(text);
    for (const warning of parsed.warnings) io.warn(warning);
    rcFields = parsed.fields;
    if (parsed.toggleShowPath) showPath = !showPath;
  }

  const mode: PmapMode = rc
    ? 'rc'
    : X >= 2
      ? 'XX'
      : X === 1
        ? 'X'
        : x
          ? 'extended'
          : d
            ? 'device'
            : 'default';
  // Before any host is contacted; worded and prefixed as in local pmap mode.
  if (sort !== undefined && !json && !summary) {
    const error = sortFieldError(mode, sort, rcFields);
    if (error !== null) {
      io.warn(error.message);
      throw new ExitError(1);
    }
  }
  const layout: PmapLayout = {
    mode,
    quiet,
    showPath,
    range,
    ...(rcFields ? { rcFields } : {}),
    ...(sort !== undefined ? { sort } : {}),
  };
  const utf8 = utf8Codeset(env);
  const smaps = json || summary || !(mode === 'default' || mode === 'device');

  const collected: { target: RemoteTarget; processes: JsonProcess[]; error?: string }[] = [];
  let render: RemoteRenderer = pmapRenderer(layout, utf8);
  if (json || summary) {
    // Loaded only here: smaps parsing and region classification are not needed by pmap layouts.
    const { renderSummary } = await import('../pmap-mode/summary.ts');
    render = async (source, pids, target) => {
      const processes: JsonProcess[] = [];
      let exitCode = 0;
      let text = '';
      for (const pid of pids) {
        const found = await readPmapProcess(source, pid, 'smaps', utf8);
        if (found === null) {
          exitCode |= 42;
          processes.push({ pid, error: 'not found' });
          continue;
        }
        if (found.proc.mapText === null) exitCode |= 1;
        if (summary && !json) {
          renderSummary({ pid, proc: found.proc }, (chunk) => {
            text += chunk;
          });
        }
        processes.push({ pid, proc: found.proc });
      }
      if (json) collected.push({ target, processes });
      return { stdout: Buffer.from(text, 'latin1'), stderr: '', exitCode };
    };
  }

  const code = await runRemotePmap(
    operands,
    {
      ssh,
      parallel,
      sudo,
      readTimeoutMs,
      mode: smaps ? 'smaps' : 'maps',
      env: { ...env },
    },
    render,
    {
      stdout: (data) => io.out(data.toString('latin1')),
      stderr: (text) => io.err(Buffer.from(text, 'utf8').toString('latin1')),
      stderrIsTty: process.stderr.isTTY === true,
      targetFailed: (target, message) => {
        if (json) collected.push({ target, processes: [], error: message });
      },
    },
  );
  if (json) {
    const { renderJson } = await import('../pmap-mode/json.ts');
    io.out(renderRemoteJson(collected, renderJson));
  }
  return code;
}

/** `{"targets": [{target, host, processes | error}]}`: one document for every target, in order. */
function renderRemoteJson(
  collected: { target: RemoteTarget; processes: JsonProcess[]; error?: string }[],
  renderJson: (processes: readonly JsonProcess[]) => string,
): string {
  const targets = collected.map(({ target, processes, error }) => {
    const head = { target: target.arg, host: target.host };
    if (error !== undefined) return { ...head, error };
    const doc = JSON.parse(Buffer.from(renderJson(processes), 'latin1').toString('utf8')) as {
      processes: unknown[];
    };
    return { ...head, processes: doc.processes };
  });
  return Buffer.from(`${JSON.stringify({ targets }, null, 2)}\n`, 'utf8').toString('latin1');
}
