// The fixed remote script, run here by a real POSIX shell (as sshd would run it through the
// login shell), against this machine's real /proc.

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORGED_COMM, spawnCommForger } from './comm-forger.ts';
import {
  exitedDuringRead,
  parseProcessList,
  parseRemoteOutput,
  RemoteReadError,
  remoteCommand,
} from './remote-read.ts';

function runLikeSshd(command: string): Buffer {
  // sshd hands the command string to the user's shell as `$SHELL -c COMMAND`.
  return execFileSync('sh', ['-c', command], { maxBuffer: 1 << 28 });
}

describe('the remote read script', () => {
  let child: ReturnType<typeof spawn>;
  let pid: number;
  beforeAll(async () => {
    child = spawn('bash', ['-c', 'exec -a "arg0 with space" sleep 300'], { stdio: 'ignore' });
    pid = child.pid as number;
    // Wait until the exec happened: bash first runs under its own name.
    for (
      let i = 0;
      i < 200 && !readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('arg0');
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  });
  afterAll(() => child.kill());

  it('returns the exact bytes of every file, NULs included, in one run', () => {
    const snapshot = parseRemoteOutput(runLikeSshd(remoteCommand('maps', [pid], false)));
    expect(snapshot.exists.get(pid)).toBe(true);
    const file = (name: string) => {
      const entry = snapshot.files.get(`/proc/${pid}/${name}`);
      if (!entry?.ok) throw new Error(`${name} missing`);
      return entry.data;
    };
    expect(file('maps')).toEqual(readFileSync(`/proc/${pid}/maps`));
    expect(file('cmdline')).toEqual(Buffer.from('arg0 with space\x00300\x00'));
    expect(file('stat')).toEqual(readFileSync(`/proc/${pid}/stat`));
    expect(snapshot.files.get(`/proc/${pid}/smaps`)).toBeUndefined();
  });

  it('reports a vanished PID as missing and an unreadable file with its errno', () => {
    const snapshot = parseRemoteOutput(
      runLikeSshd(remoteCommand('smaps', [2147483647, pid], false)),
    );
    expect(snapshot.exists.get(2147483647)).toBe(false);
    expect(snapshot.exists.get(pid)).toBe(true);
    expect(snapshot.files.has('/proc/2147483647/status')).toBe(false);
    const smaps = snapshot.files.get(`/proc/${pid}/smaps`);
    expect(smaps?.ok && smaps.data.toString()).toContain('VmFlags:');
  });

  it('tells a process that exited before or while it was read from one that is hidden', async () => {
    const gone = spawn('sleep', ['300'], { stdio: 'ignore' });
    const gonePid = gone.pid as number;
    await new Promise((resolve) => gone.once('exit', resolve).kill());
    const before = parseRemoteOutput(runLikeSshd(remoteCommand('maps', [gonePid, pid], false)));
    expect(exitedDuringRead(before, gonePid)).toBe(true);
    expect(exitedDuringRead(before, pid)).toBe(false);

    // /proc/PID was there when tested, then its files were gone: the process exited mid-read.
    const frame = (path: string, message: string) =>
      `T ${path}\n\u0000${message === '' ? 0 : 1} ${message.length}\n${message}`;
    const read = (message: string) =>
      parseRemoteOutput(
        Buffer.from(
          'fleetpmap-read 1\nS 9\nD 77 1\n' +
            frame('/proc/77/status', '') +
            frame('/proc/77/maps', `cat: /proc/77/maps: ${message}\n`) +
            'E\n',
          'latin1',
        ),
      );
    expect(exitedDuringRead(read('No such file or directory'), 77)).toBe(true);
    expect(exitedDuringRead(read('No such process'), 77)).toBe(true);
    expect(exitedDuringRead(read('Permission denied'), 77)).toBe(false);
  });

  it('reads a thread ID through its thread group leader', () => {
    const self = process.pid;
    const tid = execFileSync('ls', [`/proc/${self}/task`])
      .toString()
      .trim()
      .split('\n')
      .map(Number)
      .find((t) => t !== self);
    if (tid === undefined) throw new Error('node has no second thread');
    const snapshot = parseRemoteOutput(runLikeSshd(remoteCommand('maps', [tid], false)));
    expect(snapshot.files.has(`/proc/${tid}/status`)).toBe(true);
    expect(snapshot.files.has(`/proc/${self}/maps`)).toBe(true);
    expect(snapshot.files.has(`/proc/${tid}/maps`)).toBe(false);
  });

  it('lists a comm holding a newline as one process, under its own PID', async () => {
    const forger = await spawnCommForger();
    try {
      const snapshot = parseRemoteOutput(runLikeSshd(remoteCommand('list', [], false)));
      const list = snapshot.files.get('list');
      if (!list?.ok) throw new Error('no list');
      const processes = parseProcessList(list.data);
      expect(processes).toContainEqual({ pid: forger.pid, comm: FORGED_COMM });
      expect(processes.filter((p) => p.pid === 1)).toHaveLength(1);
      expect(processes.find((p) => p.pid === 1)?.comm).toBe(
        /\((.*)\)/s.exec(readFileSync('/proc/1/stat', 'latin1'))?.[1],
      );
    } finally {
      forger.kill();
    }
  });

  it('lists processes with their comm, so comm= can be matched here', () => {
    const snapshot = parseRemoteOutput(runLikeSshd(remoteCommand('list', [], false)));
    const list = snapshot.files.get('list');
    if (!list?.ok) throw new Error('no list');
    const processes = parseProcessList(list.data);
    expect(processes).toContainEqual({ pid, comm: 'sleep' });
    expect(processes.find((p) => p.pid === snapshot.selfPid)).toBeDefined();
  });

  it('is a constant: only the mode word and validated decimal PIDs vary', () => {
    const command = remoteCommand('smaps', [1, 22], true);
    expect(command.startsWith("sudo -n -- sh -c '")).toBe(true);
    expect(command.endsWith("' fleetpmap-read smaps 1 22")).toBe(true);
    // The script travels in single quotes: it must not contain one.
    expect(command.split("'").length).toBe(3);
    expect(() => remoteCommand('maps', [Number.NaN], false)).toThrow();
    expect(() => remoteCommand('maps', [1.5], false)).toThrow();
    expect(() => remoteCommand('maps', [-1], false)).toThrow();
  });

  it('refuses output that was cut short or does not follow the framing', () => {
    const whole = runLikeSshd(remoteCommand('maps', [pid], false));
    expect(() => parseRemoteOutput(whole.subarray(0, whole.length - 2))).toThrow(RemoteReadError);
    // What a chatty login shell prints first is skipped.
    const chatty = Buffer.concat([Buffer.from('Welcome to the host!\n'), whole]);
    expect(parseRemoteOutput(chatty).exists.get(pid)).toBe(true);
    expect(() => parseRemoteOutput(Buffer.from('Welcome to the host!\nE\n'))).toThrow(
      RemoteReadError,
    );
  });
});

describe('parseProcessList', () => {
  it('takes the PID from the path and comm up to the last parenthesis of its own file', () => {
    const text = [
      '/proc/1/stat:1 (systemd) S 0 1',
      '/proc/42/stat:42 (a) b) (c) S 1 42',
      '/proc/77/stat:77 (two',
      '/proc/77/stat:lines) S 1 77',
      // A comm of "x\n1 (sleep": its second line looks like PID 1's stat, but is 666's.
      '/proc/666/stat:666 (x',
      '/proc/666/stat:1 (sleep) S 1 666',
      '',
    ].join('\n');
    expect(parseProcessList(Buffer.from(text))).toEqual([
      { pid: 1, comm: 'systemd' },
      { pid: 42, comm: 'a) b) (c' },
      { pid: 77, comm: 'two\nlines' },
      { pid: 666, comm: FORGED_COMM },
    ]);
  });

  it('refuses an empty listing: the script itself is always listed', () => {
    expect(() => parseProcessList(Buffer.from(''))).toThrow(RemoteReadError);
  });
});
