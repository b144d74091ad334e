// `fleetpmap HOST:PID…`: groups the targets by host, opens one connection per host (at most
// `parallel` at a time), reads everything a host's targets need in one fixed remote command, and
// hands the files to the pmap renderer, printing in command-line order as results arrive.

import { type ConnectContext, connect, HostError } from './connect.ts';
import { PassphrasePrompter } from './passphrase.ts';
import { type ProcSource, snapshotSource } from './proc-source.ts';
import {
  exitedDuringRead,
  type ListedProcess,
  parseProcessList,
  parseRemoteOutput,
  type ReadMode,
  type RemoteProcSnapshot,
  RemoteReadError,
  readStarted,
  remoteCommand,
} from './remote-read.ts';
import { type SshOptions, SshSettingsResolver } from './ssh-settings.ts';
import { parseRemoteTarget, quote, type RemoteTarget, TargetError } from './target.ts';

/** Exit status when a host could not be reached, authenticated or trusted (as ssh uses 255). */
export const EXIT_HOST_FAILURE = 255;
const EXIT_USAGE = 1;

export interface RemotePmapOptions {
  ssh: SshOptions;
  /** Hosts contacted at once. */
  parallel: number;
  sudo: boolean;
  readTimeoutMs: number;
  /** Which map file the chosen pmap mode reads. */
  mode: ReadMode;
  /** Environment for HOME, USER and SSH_AUTH_SOCK (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** pmap's per-run result for some PIDs read from one source: bytes to print and its exit code. */
export interface RenderResult {
  stdout: Buffer;
  stderr: string;
  /** 0, 1 (unreadable), 42 (missing), 43 (both), as pmap. */
  exitCode: number;
}

/** Renders PIDs from a source exactly as pmap would on that host. */
export type RemoteRenderer = (
  source: ProcSource,
  pids: readonly number[],
  target: RemoteTarget,
) => Promise<RenderResult>;

export interface RemoteIo {
  stdout(data: Buffer): void;
  stderr(text: string): void;
  /** Progress is drawn only on a terminal. */
  stderrIsTty: boolean;
  /** Told about every target that produced no output, after its message went to stderr. */
  targetFailed?(target: RemoteTarget, message: string): void;
}

/**
 * Limits of one host's read: generous for the largest real smaps, bounded for a hostile host (the
 * output is held in memory, for every host read at once). smaps takes ~770 bytes per mapping plus
 * its path; a process at the kernel's default max_map_count (65530) writes ~50 MB, so 256 MiB
 * holds five of them, or one whose mappings all have 3 KB paths.
 */
const MAX_STDOUT_BYTES = 256 * 1024 * 1024;
const MAX_STDERR_BYTES = 64 * 1024;
const MAX_TARGETS = 4096;
const MAX_PIDS_PER_HOST = 4096;

export interface HostGroup {
  key: string;
  host: string;
  user: string | undefined;
  targets: RemoteTarget[];
}

export type HostOutcome =
  | { ok: true; snapshot: RemoteProcSnapshot; pids: Map<RemoteTarget, number[]> }
  | { ok: false; error: HostError; unreadable: boolean };

/** Runs the whole remote pmap; returns the process exit code. */
export async function runRemotePmap(
  args: readonly string[],
  options: RemotePmapOptions,
  render: RemoteRenderer,
  io: RemoteIo,
): Promise<number> {
  const targets: RemoteTarget[] = [];
  if (args.length > MAX_TARGETS) {
    io.stderr(`fleetpmap: too many targets (at most ${MAX_TARGETS})\n`);
    return EXIT_USAGE;
  }
  for (const arg of args) {
    try {
      targets.push(parseRemoteTarget(arg));
    } catch (error) {
      if (!(error instanceof TargetError)) throw error;
      io.stderr(`fleetpmap: ${error.message}\n`);
      return EXIT_USAGE;
    }
  }
  if (!Number.isInteger(options.parallel) || options.parallel < 1) {
    io.stderr('fleetpmap: --parallel must be a positive integer\n');
    return EXIT_USAGE;
  }

  let resolver: SshSettingsResolver;
  try {
    resolver = new SshSettingsResolver(options.ssh, options.env);
  } catch (error) {
    io.stderr(`fleetpmap: ${(error as Error).message}\n`);
    return EXIT_USAGE;
  }
  const context: ConnectContext = {
    resolver,
    prompter: PassphrasePrompter.available() ? new PassphrasePrompter() : null,
    warn: (message) => io.stderr(`${message}\n`),
  };

  const groups = new Map<string, HostGroup>();
  for (const target of targets) {
    const key = `${target.user ?? ''}@${target.host}`;
    const group = groups.get(key) ?? { key, host: target.host, user: target.user, targets: [] };
    group.targets.push(target);
    groups.set(key, group);
  }

  const progress = new Progress(io, groups.size);
  const outcomes = new Map<string, Promise<HostOutcome>>();
  const queue = [...groups.values()];
  const resolvers = new Map<string, (outcome: HostOutcome) => void>();
  for (const group of queue) {
    outcomes.set(group.key, new Promise((resolve) => resolvers.set(group.key, resolve)));
  }
  // Workers take host groups in command-line order, so the first results to print come first.
  let nextGroup = 0;
  const worker = async () => {
    for (;;) {
      const group = queue[nextGroup++];
      if (group === undefined) return;
      const outcome = await readHost(group, options, context);
      progress.done();
      resolvers.get(group.key)?.(outcome);
    }
  };
  const workers = Array.from({ length: Math.min(options.parallel, queue.length) }, worker);

  let exitCode = 0;
  let hostFailed = false;
  const reported = new Set<string>();
  for (const target of targets) {
    const key = `${target.user ?? ''}@${target.host}`;
    const outcome = await (outcomes.get(key) as Promise<HostOutcome>);
    if (!outcome.ok) {
      if (!reported.has(key)) {
        reported.add(key);
        // Loaded at the first failure only: its module also holds the fleet commands' tables.
        const { printable } = await import('../fleet/format.ts');
        progress.clear();
        io.stderr(prefixLines(target.host, outcome.error.message, printable));
      }
      io.targetFailed?.(target, outcome.error.message);
      if (outcome.unreadable) exitCode |= 1;
      else hostFailed = true;
      continue;
    }
    const pids = outcome.pids.get(target) ?? [];
    if (target.comm !== null && pids.length === 0) {
      progress.clear();
      io.stderr(`fleetpmap: ${target.host}: no process named ${quote(target.comm)}\n`);
      io.targetFailed?.(target, `no process named ${target.comm}`);
      exitCode |= 42;
      continue;
    }
    const result = await render(snapshotSource(outcome.snapshot, target.host), pids, target);
    progress.clear();
    if (result.stdout.length > 0) io.stdout(result.stdout);
    if (result.stderr.length > 0) io.stderr(result.stderr);
    exitCode |= result.exitCode;
  }
  await Promise.all(workers);
  progress.clear();
  return hostFailed ? EXIT_HOST_FAILURE : exitCode;
}

/** Connects to one host, reads what its targets need, and always closes the connection. */
export async function readHost(
  group: HostGroup,
  options: RemotePmapOptions,
  context: ConnectContext,
): Promise<HostOutcome> {
  let session: Awaited<ReturnType<typeof connect>> | undefined;
  try {
    session = await connect(group.host, group.user, context);
    const limits = {
      timeoutMs: options.readTimeoutMs,
      maxStdoutBytes: MAX_STDOUT_BYTES,
      maxStderrBytes: MAX_STDERR_BYTES,
    };
    const pids = new Map<RemoteTarget, number[]>();
    const byComm = group.targets.filter((t) => t.comm !== null);
    if (byComm.length > 0) {
      const list = await session.exec(remoteCommand('list', [], options.sudo), limits);
      const snapshot = checkedOutput(list, options.sudo);
      const listed = snapshot.files.get('list');
      const processes: ListedProcess[] = listed?.ok === true ? parseProcessList(listed.data) : [];
      for (const target of byComm) {
        pids.set(
          target,
          processes
            .filter((p) => p.comm === Buffer.from(target.comm ?? '', 'utf8').toString('latin1'))
            .filter((p) => p.pid !== snapshot.selfPid)
            .map((p) => p.pid)
            .sort((a, b) => a - b),
        );
      }
    }
    for (const target of group.targets) {
      if (target.pid !== null) pids.set(target, [target.pid]);
    }
    const all = [...new Set([...pids.values()].flat())];
    if (all.length > MAX_PIDS_PER_HOST) {
      throw new HostError('protocol', `too many processes selected (at most ${MAX_PIDS_PER_HOST})`);
    }
    const read = await session.exec(remoteCommand(options.mode, all, options.sudo), limits);
    const snapshot = checkedOutput(read, options.sudo);
    // A process chosen by its comm that exited between the listing and the read was never asked
    // for by number: it is left out, as if it had exited before the listing. A PID the user
    // named is still reported missing, as pmap does.
    for (const target of byComm) {
      pids.set(
        target,
        (pids.get(target) ?? []).filter((pid) => !exitedDuringRead(snapshot, pid)),
      );
    }
    return { ok: true, snapshot, pids };
  } catch (error) {
    if (error instanceof HostError) {
      return { ok: false, error, unreadable: error.code === 'protocol' };
    }
    if (error instanceof SudoError || error instanceof RemoteReadError) {
      return { ok: false, error: new HostError('protocol', error.message), unreadable: true };
    }
    // Whatever went wrong with this host, the others are still read and printed.
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      error: new HostError('protocol', `unexpected failure: ${message}`),
      unreadable: false,
    };
  } finally {
    session?.close();
  }
}

class SudoError extends Error {}

/** How much of what a host printed is shown: enough for sshd's, a shell's and sudo's messages. */
const LINES_SHOWN = 16;
const LINE_CHARS_SHOWN = 512;

/** Text a host printed, as shown in a message: its first lines, each cut short if very long. */
function shownText(...outputs: Buffer[]): string {
  // Only the start of each is decoded: a few bytes per character at most are ever shown.
  const lines = outputs
    .flatMap((output) =>
      output
        .subarray(0, LINES_SHOWN * LINE_CHARS_SHOWN * 4)
        .toString('utf8')
        .split(/\r?\n/),
    )
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0);
  const shown = lines
    .slice(0, LINES_SHOWN)
    .map((line) => (line.length > LINE_CHARS_SHOWN ? `${line.slice(0, LINE_CHARS_SHOWN)}…` : line));
  if (lines.length > shown.length) shown.push(`(${lines.length - shown.length} more lines)`);
  return shown.join('\n');
}

function checkedOutput(
  result: { stdout: Buffer; stderr: Buffer; code: number | null },
  sudo: boolean,
): RemoteProcSnapshot {
  const stderr = shownText(result.stderr);
  if (sudo && result.code !== 0 && /^sudo: /m.test(stderr)) {
    if (/password is required|a terminal is required/.test(stderr)) {
      throw new SudoError(
        'sudo wants a password there, and --sudo never types one (it runs sudo -n); ' +
          'allow this user to run /bin/sh without a password (NOPASSWD) or read without --sudo',
      );
    }
    throw new SudoError(stderr);
  }
  try {
    return parseRemoteOutput(result.stdout);
  } catch (error) {
    if (!(error instanceof RemoteReadError)) throw error;
    if (readStarted(result.stdout)) {
      throw new RemoteReadError(
        stderr.length > 0 ? `remote read failed: ${stderr}` : error.message,
      );
    }
    // The login did not run the read at all (a nologin shell, a ForceCommand): what it printed
    // instead, on either stream, is the reason; the host cannot be read, like one that refuses
    // the login.
    const said = shownText(result.stderr, result.stdout);
    throw new HostError('login', said.length > 0 ? `remote read failed: ${said}` : error.message);
  }
}

/**
 * A host's message, one `fleetpmap: HOST: ` line per line. The text may come from the host (what
 * it printed), so control and bidi characters are shown as `?`.
 */
function prefixLines(host: string, message: string, printable: (text: string) => string): string {
  return message
    .split('\n')
    .map((line) => `fleetpmap: ${host}: ${printable(line)}\n`)
    .join('');
}

/** `[3/10 hosts]` on a terminal's stderr while several hosts are being read. */
class Progress {
  readonly #io: RemoteIo;
  readonly #total: number;
  readonly #enabled: boolean;
  #done = 0;
  #shown = false;

  constructor(io: RemoteIo, total: number) {
    this.#io = io;
    this.#total = total;
    this.#enabled = io.stderrIsTty && total > 1;
    this.#draw();
  }

  done(): void {
    this.#done++;
    this.#draw();
  }

  clear(): void {
    if (!this.#shown) return;
    this.#io.stderr('\r\u001b[K');
    this.#shown = false;
  }

  #draw(): void {
    if (!this.#enabled || this.#done >= this.#total) {
      this.clear();
      return;
    }
    this.#io.stderr(`\r\u001b[Kfleetpmap: reading ${this.#done}/${this.#total} hosts…`);
    this.#shown = true;
  }
}
