// --sudo against a real sshd and a real sudo: throwaway users, one with a passwordless rule for
// the shell the fixed read runs, one without; both removed afterwards.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBin, nodeBin } from '../support/paths.ts';
import { HOOK_TIMEOUT_MS, skipReason, sshdUnavailable, startSshd, type TestSshd } from './sshd.ts';

const unavailable = skipReason(
  '--sudo tests',
  sshdUnavailable() ??
    (['/usr/bin/sudo', '/usr/sbin/useradd', '/usr/sbin/userdel'].find((p) => !existsSync(p))
      ? 'sudo or useradd is not installed'
      : null),
);

const tag = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const allowed = `fpms${tag}`.slice(0, 30);
const refused = `fpmn${tag}`.slice(0, 30);
const sudoers = `/etc/sudoers.d/fleetpmap-test-${tag}`;

describe.skipIf(unavailable !== null)('--sudo', { timeout: 90_000 }, () => {
  let sshd: TestSshd;
  let target: ChildProcess;

  beforeAll(async () => {
    sshd = await startSshd();
    for (const user of [allowed, refused]) {
      execFileSync('useradd', ['-M', '-d', '/nonexistent', '-s', '/bin/sh', user]);
      // A locked password ('!') makes sshd refuse the account even for keys; '*' does not.
      execFileSync('usermod', ['-p', '*', user]);
    }
    writeFileSync(sudoers, `${allowed} ALL=(root) NOPASSWD: /usr/bin/sh, /bin/sh\n`, {
      mode: 0o440,
    });
    execFileSync('visudo', ['-c', '-f', sudoers], { stdio: 'ignore' });
    // A root process: other users cannot read its maps.
    target = spawn('sleep', ['600'], { stdio: 'ignore' });
  }, HOOK_TIMEOUT_MS);
  afterAll(async () => {
    target?.kill();
    rmSync(sudoers, { force: true });
    for (const user of [allowed, refused]) spawnSync('userdel', [user], { stdio: 'ignore' });
    await sshd?.[Symbol.asyncDispose]();
  }, HOOK_TIMEOUT_MS);

  function fleetpmap(args: string[]) {
    const result = spawnSync(nodeBin, [cliBin, ...args], {
      env: { PATH: process.env.PATH, LC_ALL: 'C.UTF-8', HOME: sshd.home, USER: 'root' },
      encoding: 'latin1',
      timeout: 60_000,
    });
    return { stdout: result.stdout, stderr: result.stderr, code: result.status };
  }

  it("reads another user's process through sudo -n, as root would see it", () => {
    const pid = target.pid as number;
    const asRoot = spawnSync('ssh', [...sshd.sshArgs(), 'pmap', '-x', String(pid)], {
      encoding: 'latin1',
    });
    expect(asRoot.status).toBe(0);
    const plain = fleetpmap(['--port', String(sshd.port), '-l', allowed, '-x', `127.0.0.1:${pid}`]);
    // Like pmap without the right to read the map: the header line only, exit status 1.
    expect(plain.stdout).toBe(`${asRoot.stdout.split('\n')[0]}\n`);
    expect(plain.code).toBe(1);
    const sudo = fleetpmap([
      '--port',
      String(sshd.port),
      '-l',
      allowed,
      '--sudo',
      '-x',
      `127.0.0.1:${pid}`,
    ]);
    expect(sudo.stderr).toBe('');
    expect(sudo.stdout).toBe(asRoot.stdout);
    expect(sudo.code).toBe(0);
  });

  it('says clearly when sudo would ask for a password, and never waits for one', () => {
    const pid = target.pid as number;
    const run = fleetpmap([
      '--port',
      String(sshd.port),
      '-l',
      refused,
      '--sudo',
      `127.0.0.1:${pid}`,
    ]);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('fleetpmap: 127.0.0.1: sudo wants a password there');
    expect(run.code).toBe(1);
  });
});
