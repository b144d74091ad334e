// The SSH transport of `HOST:PID` against a real OpenSSH server: the bytes read over one exec are
// the bytes the kernel gives to OpenSSH's own `ssh … cat`, and host keys, agent and key files
// behave the way OpenSSH users expect.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostError } from '../../apps/cli/src/remote/connect.ts';
import { type HostOutcome, readHost } from '../../apps/cli/src/remote/remote-pmap.ts';
import type { ReadMode } from '../../apps/cli/src/remote/remote-read.ts';
import { type SshOptions, SshSettingsResolver } from '../../apps/cli/src/remote/ssh-settings.ts';
import { parseRemoteTarget } from '../../apps/cli/src/remote/target.ts';
import { HOOK_TIMEOUT_MS, skipReason, startSshd, type TestSshd } from './sshd.ts';

const missing = skipReason('SSH transport tests');

describe.skipIf(missing !== null)('SSH transport', { timeout: 30_000 }, () => {
  let sshd: TestSshd;
  let sleeper: ChildProcess;

  beforeAll(async () => {
    sshd = await startSshd();
    sleeper = spawn('bash', ['-c', 'exec -a "two words" sleep 600'], { stdio: 'ignore' });
    const pid = sleeper.pid as number;
    // Wait until the exec happened: bash first runs under its own name.
    for (
      let i = 0;
      i < 200 && !readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('two');
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    sleeper?.kill();
    await sshd?.[Symbol.asyncDispose]();
  }, HOOK_TIMEOUT_MS);

  async function read(
    targets: string[],
    ssh: SshOptions,
    env: NodeJS.ProcessEnv = { HOME: sshd.home, USER: 'root' },
    mode: ReadMode = 'maps',
  ): Promise<{ outcome: HostOutcome; warnings: string[] }> {
    const parsed = targets.map(parseRemoteTarget);
    const warnings: string[] = [];
    const first = parsed[0];
    if (first === undefined) throw new Error('no target');
    const outcome = await readHost(
      { key: first.host, host: first.host, user: first.user, targets: parsed },
      { ssh, parallel: 1, sudo: false, readTimeoutMs: 10_000, mode },
      {
        resolver: new SshSettingsResolver(ssh, env),
        prompter: null,
        warn: (message) => warnings.push(message),
      },
    );
    return { outcome, warnings };
  }

  function openssh(command: string[]): Buffer {
    return execFileSync('ssh', [...sshd.sshArgs(), ...command], { maxBuffer: 1 << 28 });
  }

  /** `TYPE BASE64` of a key this server does not have. */
  function otherHostKey(): string {
    const path = join(sshd.dir, 'other');
    if (!existsSync(path))
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
    return readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  }

  function file(outcome: HostOutcome, path: string): Buffer {
    if (!outcome.ok) throw outcome.error;
    const entry = outcome.snapshot.files.get(path);
    if (entry === undefined || !entry.ok) throw new Error(`${path}: ${JSON.stringify(entry)}`);
    return entry.data;
  }

  it('reads the same bytes OpenSSH reads, NUL-separated cmdline included', async () => {
    const pid = sleeper.pid as number;
    const { outcome } = await read([`127.0.0.1:${pid}`], sshd.sshOptions());
    expect(file(outcome, `/proc/${pid}/maps`)).toEqual(openssh(['cat', `/proc/${pid}/maps`]));
    expect(file(outcome, `/proc/${pid}/cmdline`)).toEqual(Buffer.from('two words\x00600\x00'));
    expect(file(outcome, `/proc/${pid}/stat`)).toEqual(openssh(['cat', `/proc/${pid}/stat`]));
    // Other tests create SysV segments concurrently, so only the layout is compared here.
    expect(file(outcome, '/proc/sysvipc/shm').toString().split('\n')[0]).toBe(
      openssh(['cat', '/proc/sysvipc/shm']).toString().split('\n')[0],
    );
    if (!outcome.ok) return;
    expect(outcome.snapshot.exists.get(pid)).toBe(true);
  });

  it('reads smaps for smaps-based modes, and reports a missing process as missing', async () => {
    const pid = sleeper.pid as number;
    const { outcome } = await read(
      [`127.0.0.1:${pid}`, '127.0.0.1:2147483647'],
      sshd.sshOptions(),
      undefined,
      'smaps',
    );
    const smaps = file(outcome, `/proc/${pid}/smaps`).toString('latin1');
    expect(smaps).toContain('VmFlags:');
    expect(smaps.split('\n').filter((l) => /^[0-9a-f]+-/.test(l))).toEqual(
      openssh(['cat', `/proc/${pid}/maps`])
        .toString('latin1')
        .trimEnd()
        .split('\n'),
    );
    if (!outcome.ok) return;
    expect(outcome.snapshot.exists.get(2147483647)).toBe(false);
  });

  it('finds processes by command name, as the kernel spells comm', async () => {
    const { outcome } = await read(
      ['127.0.0.1:comm=sleep', '127.0.0.1:comm=no-such-comm'],
      sshd.sshOptions(),
    );
    if (!outcome.ok) throw outcome.error;
    const [bySleep, byNothing] = [...outcome.pids.values()];
    expect(bySleep).toContain(sleeper.pid);
    expect(byNothing).toEqual([]);
  });

  it('refuses an unknown host key with OpenSSH wording and records nothing', async () => {
    writeFileSync(join(sshd.home, '.ssh', 'known_hosts'), '');
    const { outcome } = await read([`127.0.0.1:${sleeper.pid}`], sshd.sshOptions());
    writeFileSync(join(sshd.home, '.ssh', 'known_hosts'), `${sshd.knownHostsLine}\n`);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error.code).toBe('host-key');
    expect(outcome.error.message).toContain(
      `No ED25519 host key is known for [127.0.0.1]:${sshd.port} and you have requested strict checking.`,
    );
    expect(outcome.error.message).toContain('Host key verification failed.');
  });

  it('accepts and records a new key with accept-new, hashed when HashKnownHosts asks', async () => {
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const config = join(sshd.dir, 'hash_config');
    writeFileSync(config, 'Host *\n  HashKnownHosts yes\n');
    writeFileSync(knownHosts, '');
    const first = await read(
      [`127.0.0.1:${sleeper.pid}`],
      sshd.sshOptions({ acceptNewHostKeys: true, configFile: config }),
    );
    expect(first.outcome.ok).toBe(true);
    expect(first.warnings).toEqual([
      `Warning: Permanently added '[127.0.0.1]:${sshd.port}' (ED25519) to the list of known hosts.`,
    ]);
    const recorded = readFileSync(knownHosts, 'utf8');
    expect(recorded).toMatch(/^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ ssh-ed25519 /);
    // OpenSSH itself accepts the hashed entry we wrote, and so do we, strictly.
    expect(openssh(['echo', 'ok']).toString()).toBe('ok\n');
    const again = await read([`127.0.0.1:${sleeper.pid}`], sshd.sshOptions());
    expect(again.outcome.ok).toBe(true);
    expect(again.warnings).toEqual([]);
    writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
  });

  it('refuses a changed host key even with accept-new, naming the offending line', async () => {
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const other = otherHostKey();
    writeFileSync(knownHosts, `# comment\n[127.0.0.1]:${sshd.port} ${other}\n`);
    const { outcome } = await read(
      [`127.0.0.1:${sleeper.pid}`],
      sshd.sshOptions({ acceptNewHostKeys: true }),
    );
    const after = readFileSync(knownHosts, 'utf8');
    writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
    expect(after).toBe(`# comment\n[127.0.0.1]:${sshd.port} ${other}\n`);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error.code).toBe('host-key');
    expect(outcome.error.message).toContain('WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!');
    expect(outcome.error.message).toContain(`Offending ED25519 key in ${knownHosts}:2`);
  });

  it('checks a host name in any case against the entry OpenSSH hashed, and never re-adds it', async () => {
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const hashed = (key: string) => {
      writeFileSync(knownHosts, `[localhost]:${sshd.port} ${key}\n`);
      execFileSync('ssh-keygen', ['-q', '-H', '-f', knownHosts], { stdio: 'ignore' });
      return readFileSync(knownHosts, 'utf8');
    };
    try {
      const wrong = hashed(otherHostKey());
      for (const host of ['localhost', 'LocalHost', 'LOCALHOST']) {
        const { outcome, warnings } = await read(
          [`${host}:${sleeper.pid}`],
          sshd.sshOptions({ acceptNewHostKeys: true }),
        );
        expect(warnings).toEqual([]);
        expect(outcome.ok).toBe(false);
        if (outcome.ok) return;
        expect(outcome.error.message).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
        expect(outcome.error.message).toContain(
          `Host key for [localhost]:${sshd.port} has changed`,
        );
        expect(readFileSync(knownHosts, 'utf8')).toBe(wrong);
      }
      const right = hashed(sshd.hostKeyPub);
      const { outcome, warnings } = await read([`LOCALHOST:${sleeper.pid}`], sshd.sshOptions());
      expect(outcome.ok).toBe(true);
      expect(warnings).toEqual([]);
      expect(readFileSync(knownHosts, 'utf8')).toBe(right);
    } finally {
      writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
    }
  });

  it('finds and records a HostKeyAlias as OpenSSH does, without the port', async () => {
    const knownHosts = join(sshd.home, '.ssh', 'known_hosts');
    const config = join(sshd.dir, 'alias_config');
    writeFileSync(config, 'Host *\n  HostKeyAlias MyAlias\n  HashKnownHosts no\n');
    const ssh = (strict: string) =>
      execFileSync('ssh', [
        ...['-o', 'HostKeyAlias=MyAlias', '-o', `StrictHostKeyChecking=${strict}`],
        ...sshd.sshArgs(),
        'echo',
        'ok',
      ]).toString();
    try {
      // What OpenSSH records for the alias on a port other than 22, read by us strictly.
      writeFileSync(knownHosts, '');
      expect(ssh('accept-new')).toBe('ok\n');
      const recorded = readFileSync(knownHosts, 'utf8');
      expect(recorded).toBe(`myalias ${sshd.hostKeyPub}\n`);
      const strict = await read(
        [`127.0.0.1:${sleeper.pid}`],
        sshd.sshOptions({ configFile: config }),
      );
      expect(strict.outcome.ok).toBe(true);
      expect(readFileSync(knownHosts, 'utf8')).toBe(recorded);
      // What we record with accept-new, read by OpenSSH strictly.
      writeFileSync(knownHosts, '');
      const added = await read(
        [`127.0.0.1:${sleeper.pid}`],
        sshd.sshOptions({ configFile: config, acceptNewHostKeys: true }),
      );
      expect(added.outcome.ok).toBe(true);
      expect(added.warnings).toEqual([
        "Warning: Permanently added 'myalias' (ED25519) to the list of known hosts.",
      ]);
      expect(readFileSync(knownHosts, 'utf8')).toBe(recorded);
      expect(ssh('yes')).toBe('ok\n');
    } finally {
      writeFileSync(knownHosts, `${sshd.knownHostsLine}\n`);
    }
  });

  it('authenticates with a key file given by -i when no default key exists', async () => {
    const bare = sshd.clientHome('bare-home');
    // A stale agent socket is skipped, as ssh skips it.
    const env = { HOME: bare, USER: 'root', SSH_AUTH_SOCK: join(bare, 'no-agent.sock') };
    const without = await read([`127.0.0.1:${sleeper.pid}`], sshd.sshOptions(), env);
    expect(without.outcome.ok).toBe(false);
    if (!without.outcome.ok) {
      expect(without.outcome.error.code).toBe('auth');
      expect(without.outcome.error.message).toContain('Permission denied (publickey)');
    }
    const withKey = await read(
      [`127.0.0.1:${sleeper.pid}`],
      sshd.sshOptions({ identityFiles: [sshd.userKey] }),
      env,
    );
    expect(withKey.outcome.ok).toBe(true);
  });

  it('authenticates through ssh-agent (SSH_AUTH_SOCK) with no key file at all', async () => {
    const bare = sshd.clientHome('agent-home');
    const socket = join(sshd.dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 50; i++) {
        try {
          execFileSync('ssh-add', [sshd.userKey], {
            env: { ...process.env, SSH_AUTH_SOCK: socket },
            stdio: 'ignore',
          });
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const { outcome } = await read([`127.0.0.1:${sleeper.pid}`], sshd.sshOptions(), {
        HOME: bare,
        USER: 'root',
        SSH_AUTH_SOCK: socket,
      });
      expect(outcome.ok).toBe(true);
    } finally {
      agent.kill();
    }
  });

  it('names a refused connection the way ssh does', async () => {
    const { outcome } = await read([`127.0.0.1:${sleeper.pid}`], sshd.sshOptions({ port: 1 }));
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toBeInstanceOf(HostError);
    expect(outcome.error.message).toBe('connect to host 127.0.0.1 port 1: Connection refused');
  });
});
