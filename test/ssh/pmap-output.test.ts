// `fleetpmap HOST:PID` prints what `pmap` prints on that host: compared byte for byte with the
// real pmap 4.0.2 run through OpenSSH's `ssh` against the same sshd, in every layout. The
// workload's smaps is frozen inside sshd's mount namespace, so Pss cannot drift between readers.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FULL_RANGE, type PmapOptions } from '@fleetpmap/pmap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXIT_HOST_FAILURE,
  type RemotePmapOptions,
  runRemotePmap,
} from '../../apps/cli/src/remote/remote-pmap.ts';
import { pmapRenderer } from '../../apps/cli/src/remote/remote-render.ts';
import { freePort } from '../support/free-port.ts';
import { HOOK_TIMEOUT_MS, skipReason, startSshd, type TestSshd } from './sshd.ts';

const missing = skipReason('SSH pmap output tests');

type Layout = Omit<PmapOptions, 'shmMinor'>;
const base: Layout = { mode: 'default', quiet: false, showPath: false, range: FULL_RANGE };

interface Run {
  stdout: Buffer;
  stderr: string;
  code: number;
}

describe.skipIf(missing !== null)(
  'fleetpmap HOST:PID against pmap over ssh',
  { timeout: 60_000 },
  () => {
    let dir: string;
    let sshd: TestSshd;
    let workload: ChildProcess;
    let pid: number;
    let tid: number;
    let range: string;
    let comm: string;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fleetpmap-ssh-out-'));
      // A name no other process has, for the comm= test (comm keeps 15 bytes).
      comm = `wl-${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`.slice(0, 15);
      const bin = join(dir, comm);
      execFileSync('gcc', ['-O2', '-pthread', '-o', bin, join(import.meta.dirname, 'workload.c')]);
      workload = spawn(bin, [dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        workload.stdout?.once('data', () => resolve());
        workload.once('exit', (code) => reject(new Error(`workload exited with ${code}`)));
      });
      pid = workload.pid as number;
      const tasks = execFileSync('ls', [`/proc/${pid}/task`])
        .toString()
        .trim()
        .split('\n');
      tid = Number(tasks.find((t) => Number(t) !== pid));
      const maps = readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n');
      const [start, end] = (maps[2] ?? '').split(' ')[0]?.split('-') ?? [];
      range = `${start},${end}`;
      sshd = await startSshd({
        freeze: [{ procPath: `/proc/${pid}/smaps`, bytes: readFileSync(`/proc/${pid}/smaps`) }],
      });
    }, HOOK_TIMEOUT_MS);
    afterAll(async () => {
      workload?.kill();
      await sshd?.[Symbol.asyncDispose]();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, HOOK_TIMEOUT_MS);

    function remotePmap(flags: string[], pids: (number | string)[]): Run {
      const result = spawnSync(
        'ssh',
        [...sshd.sshArgs(), 'env', 'LC_ALL=C.UTF-8', 'pmap', ...flags, ...pids.map(String)],
        { maxBuffer: 1 << 28 },
      );
      return { stdout: result.stdout, stderr: result.stderr.toString(), code: result.status ?? -1 };
    }

    async function fleetpmap(
      layout: Layout,
      targets: string[],
      over: Partial<RemotePmapOptions> = {},
    ): Promise<Run> {
      const stdout: Buffer[] = [];
      let stderr = '';
      const code = await runRemotePmap(
        targets,
        {
          ssh: sshd.sshOptions(),
          parallel: 4,
          sudo: false,
          readTimeoutMs: 20_000,
          mode: layout.mode === 'default' || layout.mode === 'device' ? 'maps' : 'smaps',
          env: { HOME: sshd.home, USER: 'root' },
          ...over,
        },
        pmapRenderer(layout, true),
        {
          stdout: (data) => stdout.push(data),
          stderr: (text) => {
            stderr += text;
          },
          stderrIsTty: false,
        },
      );
      return { stdout: Buffer.concat(stdout), stderr, code };
    }

    const hex = (text: string) => BigInt(`0x${text}`);
    const layouts: [string[], () => Layout][] = [
      [[], () => base],
      [['-x'], () => ({ ...base, mode: 'extended' })],
      [['-d'], () => ({ ...base, mode: 'device' })],
      [['-X'], () => ({ ...base, mode: 'X' })],
      [['-XX'], () => ({ ...base, mode: 'XX' })],
      [['-q'], () => ({ ...base, quiet: true })],
      [['-p'], () => ({ ...base, showPath: true })],
      [['-q', '-x'], () => ({ ...base, mode: 'extended', quiet: true })],
      [['-p', '-d'], () => ({ ...base, mode: 'device', showPath: true })],
      [['-q', '-X'], () => ({ ...base, mode: 'X', quiet: true })],
      [['-p', '-XX'], () => ({ ...base, mode: 'XX', showPath: true })],
      [
        ['-A', 'RANGE'],
        () => {
          const [low = '', high = ''] = range.split(',');
          return { ...base, range: { low: hex(low), high: hex(high) } };
        },
      ],
      [
        ['-x', '-A', 'RANGE'],
        () => {
          const [low = '', high = ''] = range.split(',');
          return { ...base, mode: 'extended', range: { low: hex(low), high: hex(high) } };
        },
      ],
    ];

    for (const [flags, layout] of layouts) {
      it(`prints the same bytes as pmap ${flags.join(' ') || '(default)'}`, async () => {
        const real = flags.map((f) => (f === 'RANGE' ? range : f));
        const expected = remotePmap(real, [pid]);
        expect(expected.code).toBe(0);
        const actual = await fleetpmap(layout(), [`127.0.0.1:${pid}`]);
        expect(actual.stderr).toBe('');
        expect(actual.stdout.toString('latin1')).toBe(expected.stdout.toString('latin1'));
        expect(actual.code).toBe(0);
      });
    }

    it('shows a thread ID under its process, and comm= finds the process by name', async () => {
      const expected = remotePmap(['-x'], [tid]);
      const byTid = await fleetpmap({ ...base, mode: 'extended' }, [`127.0.0.1:${tid}`]);
      expect(byTid.stdout.toString('latin1')).toBe(expected.stdout.toString('latin1'));
      const byName = await fleetpmap({ ...base, mode: 'extended' }, [`127.0.0.1:comm=${comm}`]);
      expect(byName.stdout.toString('latin1')).toBe(
        remotePmap(['-x'], [pid]).stdout.toString('latin1'),
      );
      expect(byName.code).toBe(0);
    });

    it('keeps command-line order and pmap exit codes across several targets', async () => {
      const expected = remotePmap(['-d'], [pid, 2147483647, tid, pid]);
      const actual = await fleetpmap({ ...base, mode: 'device' }, [
        `127.0.0.1:${pid}`,
        '127.0.0.1:2147483647',
        `127.0.0.1:${tid}`,
        `127.0.0.1:${pid}`,
      ]);
      expect(actual.stdout.toString('latin1')).toBe(expected.stdout.toString('latin1'));
      expect(expected.code).toBe(42);
      expect(actual.code).toBe(42);
    });

    it('reads the other hosts when one is unreachable, names it, and exits 255', async () => {
      const closed = await freePort();
      const expected = remotePmap([], [pid]);
      const actual = await fleetpmap(base, [
        `127.0.0.1:${pid}`,
        'unreachable.invalid:1',
        `127.0.0.1:${pid}`,
      ]);
      expect(actual.stdout.toString('latin1')).toBe(
        expected.stdout.toString('latin1') + expected.stdout.toString('latin1'),
      );
      expect(actual.stderr).toContain('fleetpmap: unreachable.invalid: Could not resolve hostname');
      expect(actual.code).toBe(EXIT_HOST_FAILURE);

      const refused = await fleetpmap(base, [`127.0.0.1:${pid}`], {
        ssh: sshd.sshOptions({ port: closed }),
      });
      expect(refused.stdout.length).toBe(0);
      expect(refused.stderr).toBe(
        `fleetpmap: 127.0.0.1: connect to host 127.0.0.1 port ${closed}: Connection refused\n`,
      );
      expect(refused.code).toBe(EXIT_HOST_FAILURE);
    });
  },
);
