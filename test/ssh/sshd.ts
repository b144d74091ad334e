// A throwaway OpenSSH server on a free loopback port: its own host key, an authorized user key, a
// client HOME with ~/.ssh/known_hosts, all under one temp directory removed by dispose.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SshOptions } from '../../apps/cli/src/remote/ssh-settings.ts';
import { freePort } from '../support/free-port.ts';

export const SSHD = '/usr/sbin/sshd';

/** Why the SSH suite cannot run here, or null. Under CI nothing may be missing. */
export function sshdUnavailable(): string | null {
  if (!existsSync(SSHD)) return `${SSHD} is not installed (apt-get install openssh-server)`;
  if (process.getuid?.() !== 0) return 'sshd needs root to switch users';
  for (const tool of ['ssh', 'ssh-keygen', 'ssh-agent', 'ssh-add', 'pmap']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return null;
}

/** sshd start-up, gcc and user set-up can be slow on a loaded machine. */
export const HOOK_TIMEOUT_MS = 60_000;

/**
 * What the suite `what` lacks here (`missing`; by default what sshd needs), or null. A suite that
 * lacks something says so and is skipped; under CI it fails instead.
 */
export function skipReason(what: string, missing = sshdUnavailable()): string | null {
  if (missing !== null && process.env.CI === 'true') throw new Error(`CI needs: ${missing}`);
  if (missing !== null) console.log(`skipping ${what}: ${missing}`);
  return missing;
}

export interface TestSshd {
  dir: string;
  port: number;
  /** Client HOME: .ssh/known_hosts knows this server, .ssh/id_ed25519 is authorized. */
  home: string;
  userKey: string;
  hostKeyPub: string;
  knownHostsLine: string;
  /** Options for OpenSSH's `ssh` that reach this server the same way. */
  sshArgs(user?: string): string[];
  /** fleetpmap's own SSH options for this server: root, no config file, the caller's default keys. */
  sshOptions(over?: Partial<SshOptions>): SshOptions;
  /** A new client HOME `name` under `dir`: its known_hosts knows this server; it holds no key. */
  clientHome(name: string): string;
  [Symbol.asyncDispose](): Promise<void>;
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface SshdOptions {
  /**
   * /proc files to freeze: sshd then runs in a private mount namespace where each of these files
   * is bind-mounted over the live one (reference §14), so every reader behind this server (pmap
   * over OpenSSH, fleetpmap's read) sees the very same bytes and Pss cannot drift between them.
   */
  freeze?: { procPath: string; bytes: Buffer }[];
}

export async function startSshd(options: SshdOptions = {}): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-sshd-'));
  const home = join(dir, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const hostKey = join(dir, 'host_ed25519');
  const userKey = join(home, '.ssh', 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', userKey]);
  const authorized = join(dir, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${userKey}.pub`), { mode: 0o644 });
  // sshd reads AuthorizedKeysFile as the user logging in, so other users need to reach it.
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `AuthorizedKeysFile ${authorized}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'MaxStartups 100:30:200',
      'MaxSessions 100',
      '',
    ].join('\n'),
  );
  const hostKeyPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const knownHostsLine = `[127.0.0.1]:${port} ${hostKeyPub}`;
  writeFileSync(join(home, '.ssh', 'known_hosts'), `${knownHostsLine}\n`);

  const freeze = options.freeze ?? [];
  const mounts: string[] = [];
  freeze.forEach((file, i) => {
    const copy = join(dir, `frozen-${i}`);
    writeFileSync(copy, file.bytes);
    mounts.push(copy, file.procPath);
  });
  // sshd logs to a file, not to a pipe: a caller that blocks in spawnSync (the benchmark) would
  // stop draining a pipe, and sshd would stall on its next log line.
  const logFile = join(dir, 'sshd.log');
  // The paths are passed as positional parameters, never spliced into the script text.
  const child: ChildProcess =
    freeze.length === 0
      ? spawn(SSHD, ['-D', '-E', logFile, '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(
          'unshare',
          [
            '-m',
            'sh',
            '-c',
            'n=$1; shift; mount --make-rprivate / || exit 1; ' +
              'while [ "$n" -gt 0 ]; do mount --bind "$1" "$2" || exit 1; shift 2; n=$((n - 1)); done; ' +
              'exec "$@"',
            'freeze',
            String(freeze.length),
            ...mounts,
            SSHD,
            '-D',
            '-E',
            logFile,
            '-f',
            config,
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
  let early = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    early += chunk.toString();
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) =>
      reject(new Error(`sshd exited with ${code}:\n${early}${readLog(logFile)}`)),
    );
  });
  exited.catch(() => {});
  const deadline = Date.now() + 30_000;
  while (!readLog(logFile).includes('Server listening')) {
    if (Date.now() > deadline) throw new Error(`sshd did not start:\n${early}${readLog(logFile)}`);
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 50)), exited]);
  }

  return {
    dir,
    port,
    home,
    userKey,
    hostKeyPub,
    knownHostsLine,
    sshArgs: (user = 'root') => [
      '-F',
      '/dev/null',
      '-p',
      String(port),
      '-i',
      userKey,
      '-o',
      `UserKnownHostsFile=${join(home, '.ssh', 'known_hosts')}`,
      '-o',
      'BatchMode=yes',
      '-o',
      'IdentitiesOnly=yes',
      `${user}@127.0.0.1`,
    ],
    sshOptions: (over = {}) => ({
      configFile: '/dev/null',
      user: 'root',
      port,
      identityFiles: [],
      acceptNewHostKeys: false,
      connectTimeoutMs: 5_000,
      ...over,
    }),
    clientHome(name) {
      const clientHome = join(dir, name);
      mkdirSync(join(clientHome, '.ssh'), { recursive: true, mode: 0o700 });
      writeFileSync(join(clientHome, '.ssh', 'known_hosts'), `${knownHostsLine}\n`);
      return clientHome;
    },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
