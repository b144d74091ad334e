// Remote pmap mode as a user runs it: a real process with real stdout/stderr, against a real sshd.
// Covers what happens before any connection (validation), sudo, and several hosts at once.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCommForger } from '../../apps/cli/src/remote/comm-forger.ts';
import { cliBin, nodeBin } from '../support/paths.ts';
import { HOOK_TIMEOUT_MS, skipReason, startSshd, type TestSshd } from './sshd.ts';

const missing = skipReason('SSH CLI tests');

interface Run {
  stdout: string;
  stderr: string;
  code: number | null;
}

function fleetpmap(args: string[], env: NodeJS.ProcessEnv): Run {
  const result = spawnSync(nodeBin, [cliBin, ...args], {
    env: { PATH: process.env.PATH, LC_ALL: 'C.UTF-8', ...env },
    encoding: 'latin1',
    timeout: 60_000,
  });
  return { stdout: result.stdout, stderr: result.stderr, code: result.status };
}

describe.skipIf(missing !== null)('fleetpmap HOST:PID command line', { timeout: 90_000 }, () => {
  let sshd: TestSshd;
  let counter: Server;
  let counterPort: number;
  let connections = 0;
  let sleeper: ChildProcess;
  const env = () => ({ HOME: sshd.home, USER: 'root' });

  beforeAll(async () => {
    sshd = await startSshd();
    // An idle process whose map does not change between two readers.
    sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
    counter = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    const address = counter.address();
    counterPort = typeof address === 'object' && address ? address.port : 0;
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    sleeper?.kill();
    counter?.close();
    await sshd?.[Symbol.asyncDispose]();
  }, HOOK_TIMEOUT_MS);

  it.each([
    ['a host with a shell command', '127.0.0.1;touch /tmp/x:1', 'invalid host name'],
    ['a host that looks like an ssh option', '-oProxyCommand=id:1', 'invalid'],
    ['a PID with a command', '127.0.0.1:1$(id)', 'invalid process ID'],
    ['a PID with a second word', '127.0.0.1:1 2', 'invalid process ID'],
    ['a comm with a substitution', '127.0.0.1:comm=$(reboot)', 'invalid command name'],
    ['a comm with backquotes', '127.0.0.1:comm=`id`', 'invalid command name'],
    ['a user with a command', 'x;id@127.0.0.1:1', 'invalid user name'],
    ['a host of digits only', '1:2', "invalid host name in '1:2': digits alone"],
  ])('refuses %s before connecting anywhere', (_what, bad, message) => {
    const before = connections;
    const run = fleetpmap(
      ['--port', String(counterPort), '127.0.0.1:1', bad, '127.0.0.1:2'],
      env(),
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
    expect(connections).toBe(before);
  });

  it.each([['-X'], ['-XX'], ['-x']])(
    'refuses a bad --sort field for %s before connecting',
    (layout) => {
      const before = connections;
      const run = fleetpmap(
        ['--port', String(counterPort), '--sort', 'bogus', layout, '127.0.0.1:1', '127.0.0.1:2'],
        env(),
      );
      expect(run.stderr).toMatch(/^pmap: unknown sort field 'bogus' \(available: address, /);
      expect(run.stderr.split('\n')).toHaveLength(2);
      expect(run.stdout).toBe('');
      expect(run.code).toBe(1);
      expect(connections).toBe(before);
    },
  );

  it('prints a kernel thread, which has no columns to sort by, with --sort -X', () => {
    const expected = spawnSync('ssh', [...sshd.sshArgs(), 'pmap', '-X', '2'], {
      encoding: 'latin1',
    });
    expect(expected.stdout).toMatch(/^2: {3}\[/);
    const run = fleetpmap(
      ['--port', String(sshd.port), '--sort', 'rss', '-X', '127.0.0.1:2'],
      env(),
    );
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(expected.stdout);
    expect(run.code).toBe(0);
  });

  it('prints pmap for a PID with -p keeping its pmap meaning (not the SSH port)', () => {
    const pid = String(sleeper.pid);
    const expected = spawnSync('ssh', [...sshd.sshArgs(), 'pmap', '-p', pid], {
      encoding: 'latin1',
    });
    const run = fleetpmap(['--port', String(sshd.port), '-p', `127.0.0.1:${pid}`], env());
    expect(run.stdout).toBe(expected.stdout);
    expect(run.code).toBe(expected.status);
  });

  it('selects by comm only the processes named so, whatever another comm holds', async () => {
    const forger = await spawnCommForger();
    try {
      const run = fleetpmap(['--port', String(sshd.port), '-q', '127.0.0.1:comm=sleep'], env());
      expect(run.code).toBe(0);
      const pids = [...run.stdout.matchAll(/^([0-9]+): {3}/gm)].map((m) => Number(m[1]));
      expect(pids).toContain(sleeper.pid);
      expect(pids).not.toContain(forger.pid);
      expect(pids).not.toContain(1);
    } finally {
      forger.kill();
    }
  });

  /** A new key that logs in to run `command` instead of what was asked (a ForceCommand). */
  function forcedKey(name: string, command: string): string {
    const key = join(sshd.dir, name);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const line = `command="${command}" ${readFileSync(`${key}.pub`, 'utf8')}`;
    writeFileSync(join(sshd.dir, 'authorized_keys'), line, { flag: 'a' });
    return key;
  }

  it('leaves out a process chosen by comm that exits between the listing and the read', async () => {
    // Two processes under a comm of their own; the host kills one after it was listed.
    const binary = join(sshd.dir, 'fpvanish');
    symlinkSync('/bin/sleep', binary);
    const [survivor, victim] = [spawn(binary, ['600']), spawn(binary, ['600'])];
    const hook = join(sshd.dir, 'kill-after-listing.sh');
    writeFileSync(
      hook,
      [
        'case $SSH_ORIGINAL_COMMAND in',
        '  *" fleetpmap-read list"*) ;;',
        `  *) kill ${victim.pid}; i=0`,
        `     while [ -d /proc/${victim.pid} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done;;`,
        'esac',
        'eval "$SSH_ORIGINAL_COMMAND"',
      ].join('\n'),
    );
    const key = forcedKey('kill-after-listing', `sh ${hook}`);
    try {
      // Run without blocking this process, which has to reap the killed child meanwhile.
      const child = spawn(
        nodeBin,
        [cliBin, '--port', String(sshd.port), '-i', key, '-q', '127.0.0.1:comm=fpvanish'],
        { env: { PATH: process.env.PATH, LC_ALL: 'C.UTF-8', ...env() } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('latin1');
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString('latin1');
      });
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect(victim.exitCode ?? victim.signalCode).toBe('SIGTERM');
      expect(stderr).toBe('');
      expect([...stdout.matchAll(/^([0-9]+): {3}/gm)].map((m) => Number(m[1]))).toEqual([
        survivor.pid,
      ]);
      expect(code).toBe(0);
    } finally {
      survivor.kill();
      victim.kill();
    }
  });

  it("shows a host's stderr with its control characters made visible, sudo's too", () => {
    const home = sshd.clientHome('escape-home');
    const hostile = forcedKey('hostile', "printf '\\033]0;PWNED\\007\\033[2J' >&2");
    const run = fleetpmap(['--port', String(sshd.port), '-i', hostile, '127.0.0.1:1'], {
      HOME: home,
      USER: 'root',
    });
    expect(run.stderr).toBe('fleetpmap: 127.0.0.1: remote read failed: ?]0;PWNED??[2J\n');
    expect(run.stdout).toBe('');
    expect(run.code).toBe(255);
    const sudo = forcedKey(
      'hostile-sudo',
      "printf 'sudo: \\033[2Jno\\nsudo: \\033[1mway' >&2; exit 1",
    );
    const viaSudo = fleetpmap(['--port', String(sshd.port), '-i', sudo, '--sudo', '127.0.0.1:1'], {
      HOME: home,
      USER: 'root',
    });
    expect(viaSudo.stderr).toBe(
      'fleetpmap: 127.0.0.1: sudo: ?[2Jno\nfleetpmap: 127.0.0.1: sudo: ?[1mway\n',
    );
    expect(viaSudo.code).toBe(1);
  });

  it('names what a refused login printed, on both streams, and counts the host as not read (255)', () => {
    // nobody's shell is nologin: sshd logs in, complains about the home, and nologin refuses.
    expect(readFileSync('/etc/passwd', 'utf8')).toMatch(/^nobody:.*nologin$/m);
    const run = fleetpmap(['--port', String(sshd.port), 'nobody@127.0.0.1:1'], env());
    const lines = run.stderr.split('\n');
    expect(lines[0]).toMatch(/^fleetpmap: 127\.0\.0\.1: remote read failed: /);
    expect(lines).toContain('fleetpmap: 127.0.0.1: This account is currently not available.');
    expect(run.stdout).toBe('');
    expect(run.code).toBe(255);
  });

  it('stops reading a host that sends endless output at 256 MiB, holding no more', () => {
    const endless = forcedKey('endless', 'cat /dev/zero');
    // The peak resident size of the run, written to stderr as it exits.
    const probe = join(sshd.dir, 'max-rss.mjs');
    writeFileSync(
      probe,
      "import { writeSync } from 'node:fs';\n" +
        "process.on('exit', () => writeSync(2, 'maxRSS ' + process.resourceUsage().maxRSS));\n",
    );
    const result = spawnSync(
      nodeBin,
      ['--import', probe, cliBin, '--port', String(sshd.port), '-i', endless, '127.0.0.1:1'],
      {
        env: { PATH: process.env.PATH, HOME: sshd.clientHome('endless-home'), USER: 'root' },
        encoding: 'latin1',
        timeout: 60_000,
      },
    );
    const [message, rss] = result.stderr.split('maxRSS ');
    expect(message).toBe('fleetpmap: 127.0.0.1: remote output over 256 MiB\n');
    expect(result.status).toBe(1);
    // 256 MiB of chunks, the runtime, and garbage not yet collected; never a gigabyte.
    expect(Number(rss) * 1024).toBeLessThan(640 * 2 ** 20);
  });

  it('leaves a local call local even when an option argument holds a colon', () => {
    const run = fleetpmap(['-C', './no:such.rc', '1'], env());
    expect(run.stderr).toBe("pmap: couldn't read the rc file\n");
    expect(run.code).toBe(1);
    const mixed = fleetpmap(['--port', String(counterPort), '1', '127.0.0.1:1'], env());
    expect(mixed.stderr).toBe("fleetpmap: local PIDs and HOST:PID targets cannot be mixed ('1')\n");
    expect(mixed.code).toBe(1);
  });

  it('asks for a key passphrase on the terminal, and skips the key when there is none', () => {
    const key = join(sshd.dir, 'encrypted_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open sesame', '-f', key]);
    writeFileSync(join(sshd.dir, 'authorized_keys'), readFileSync(`${key}.pub`), { flag: 'a' });
    const bare = sshd.clientHome('pass-home');
    const argv = ['--port', String(sshd.port), '-i', key, '-q', `127.0.0.1:${process.pid}`];
    const quoted = [nodeBin, cliBin, ...argv]
      .map((word) => `'${word.replaceAll("'", "'\\''")}'`)
      .join(' ');
    // script(1) gives the run a terminal whose input is our stdin: the passphrase line.
    const onTty = spawnSync('script', ['-qec', quoted, '/dev/null'], {
      input: 'open sesame\n',
      env: { PATH: process.env.PATH, HOME: bare, USER: 'root', LC_ALL: 'C.UTF-8' },
      encoding: 'latin1',
      timeout: 60_000,
    });
    expect(onTty.stdout).toContain(`Enter passphrase for key '${key}': `);
    expect(onTty.stdout).toContain(`\n${process.pid}:   `);
    expect(onTty.status).toBe(0);
    // No controlling terminal (setsid): the key is skipped and authentication fails.
    const noTty = spawnSync('setsid', ['-w', nodeBin, cliBin, ...argv], {
      env: { PATH: process.env.PATH, HOME: bare, USER: 'root', LC_ALL: 'C.UTF-8' },
      encoding: 'latin1',
      timeout: 60_000,
    });
    expect(noTty.stderr).toBe(
      'fleetpmap: 127.0.0.1: root@127.0.0.1: Permission denied (publickey).\n',
    );
    expect(noTty.status).toBe(255);
  });

  it('gives up on a host that accepts but never speaks, within --connect-timeout', async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => {
      held.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = Date.now();
      const run = await new Promise<Run>((resolve) => {
        const child = spawn(
          nodeBin,
          [cliBin, '--port', String(port), '--connect-timeout', '1', '127.0.0.1:1'],
          { env: { PATH: process.env.PATH, ...env() } },
        );
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on('close', (code) => resolve({ stdout: '', stderr, code }));
      });
      expect(run.stderr).toBe(
        `fleetpmap: 127.0.0.1: connect to host 127.0.0.1 port ${port}: Connection timed out\n`,
      );
      expect(run.code).toBe(255);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });

  it('prints one JSON document naming every target, failures included', () => {
    const run = fleetpmap(
      ['--port', String(sshd.port), '--json', '127.0.0.1:1', 'no-such-host.invalid:1'],
      env(),
    );
    const doc = JSON.parse(Buffer.from(run.stdout, 'latin1').toString('utf8')) as {
      targets: { target: string; host: string; processes?: { pid: number }[]; error?: string }[];
    };
    expect(doc.targets.map((t) => t.target)).toEqual(['127.0.0.1:1', 'no-such-host.invalid:1']);
    expect(doc.targets[0]?.processes?.[0]?.pid).toBe(1);
    expect(doc.targets[1]?.error).toContain('Could not resolve hostname');
    expect(run.code).toBe(255);
  });

  it('honours ~/.ssh/config: Host patterns, HostName, Port, User and IdentityFile', () => {
    const home = sshd.clientHome('cfg-home');
    writeFileSync(
      join(home, '.ssh', 'config'),
      [
        'Host web-*',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        '  User root',
        `  IdentityFile ${sshd.userKey}`,
        '  ConnectTimeout 5',
        '',
      ].join('\n'),
    );
    const run = fleetpmap(['-q', 'web-07:1'], { HOME: home, USER: 'nobody' });
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n')[0]).toMatch(/^1: {3}/);
    // -F replaces ~/.ssh/config: the alias no longer resolves.
    const other = join(home, 'empty_config');
    writeFileSync(other, '');
    const withF = fleetpmap(['-F', other, '-q', 'web-07:1'], { HOME: home, USER: 'nobody' });
    expect(withF.code).toBe(255);
    expect(withF.stderr).toContain('fleetpmap: web-07: Could not resolve hostname web-07');
    // A route through ProxyCommand is refused rather than silently bypassed.
    writeFileSync(other, 'Host web-*\n  ProxyCommand nc %h %p\n');
    const proxied = fleetpmap(['-F', other, 'web-07:1'], { HOME: home, USER: 'nobody' });
    expect(proxied.code).toBe(255);
    expect(proxied.stderr).toBe(
      'fleetpmap: web-07: web-07: ProxyCommand is not supported (ProxyJump is)\n',
    );
  });

  it('reaches a host through ProxyJump', () => {
    const home = sshd.clientHome('jump-home');
    // The jump host forwards to 127.0.0.1 (sshd's own address), which known_hosts knows.
    writeFileSync(
      join(home, '.ssh', 'config'),
      [
        'Host bastion',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        'Host inner',
        '  HostName 127.0.0.1',
        `  Port ${sshd.port}`,
        '  ProxyJump bastion',
        'Host *',
        '  User root',
        `  IdentityFile ${sshd.userKey}`,
        '',
      ].join('\n'),
    );
    const run = fleetpmap(['-q', 'inner:1'], { HOME: home, USER: 'root' });
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n')[0]).toMatch(/^1: {3}/);
    expect(readFileSync(join(home, '.ssh', 'known_hosts'), 'utf8')).toBe(
      `${sshd.knownHostsLine}\n`,
    );
  });
});
