// Runs the real fleetpmap binary next to the real /usr/bin/pmap on live processes and compares
// stdout, stderr and the exit status byte for byte. Only maps-based layouts and -x are compared
// live (Pss in -X changes whenever another process maps the same pages); the conformance suite
// under test/conformance covers the rest on frozen /proc files, and the runs as `nobody` (it
// makes the checkout reachable for that user wherever it lies).

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Every case starts two programs; on a busy machine that alone can take seconds.
vi.setConfig({ testTimeout: 60_000 });

const PMAP = '/usr/bin/pmap';
const BIN = fileURLToPath(new URL('../../bin/fleetpmap.js', import.meta.url));
const skip = !existsSync(PMAP) && process.env.CI !== 'true';
if (skip) console.log(`skipping the live pmap comparison: ${PMAP} is not installed`);

interface Run {
  stdout: string;
  stderr: string;
  status: number | null;
}

const home = mkdtempSync(join(tmpdir(), 'fleetpmap-home-'));
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LC_ALL: 'C.UTF-8' };

function run(cmd: string, args: readonly string[], opts: { stdout?: number } = {}): Run {
  const r = spawnSync(cmd, args, {
    env: ENV,
    encoding: 'latin1',
    argv0: cmd === PMAP ? 'pmap' : undefined,
    stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'],
  });
  return { stdout: r.stdout ?? '', stderr: r.stderr ?? '', status: r.status };
}

const pmap = (args: readonly string[]): Run => run(PMAP, args);
const fleetpmap = (args: readonly string[]): Run => run(process.execPath, [BIN, ...args]);

const sleepers: ChildProcess[] = [];
let a = 0;
let b = 0;

beforeAll(() => {
  for (let i = 0; i < 2; i++) sleepers.push(spawn('sleep', ['1000'], { stdio: 'ignore' }));
  a = sleepers[0]?.pid ?? 0;
  b = sleepers[1]?.pid ?? 0;
});

afterAll(() => {
  for (const s of sleepers) s.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

describe.skipIf(skip)('fleetpmap against the real pmap 4.0.2', () => {
  const same = (args: () => string[]) => () => {
    const argv = args();
    expect(fleetpmap(argv)).toEqual(pmap(argv));
  };

  for (const flags of [
    [],
    ['-x'],
    ['-d'],
    ['-q'],
    ['-p'],
    ['-q', '-x'],
    ['-q', '-d'],
    ['-p', '-d'],
    ['-p', '-x'],
    ['-xq'],
    ['--device', '--show-path'],
  ]) {
    it(
      `prints a live process with [${flags.join(' ')}]`,
      same(() => [...flags, String(a)]),
    );
  }

  it(
    'limits to a range and keeps -x totals quirk',
    same(() => ['-x', '-A', '7f0000000000,7fffffffffff', String(a)]),
  );
  it(
    'prints several PIDs in order, duplicates again',
    same(() => [String(b), String(a), String(b)]),
  );
  it(
    'prints nothing for a missing PID and exits 42',
    same(() => [String(a), '999999']),
  );
  it(
    'prints nothing at all when the only PID is missing',
    same(() => ['-x', '999999']),
  );
  it(
    'prints a kernel thread as [comm]',
    same(() => ['-d', '2']),
  );
  it(
    'accepts /proc/PID, hex and octal PIDs',
    same(() => [`/proc/${a}`, `0x${a.toString(16)}`, `0${a.toString(8)}`]),
  );
  it(
    'prints the usage text for -h',
    same(() => ['-h']),
  );

  const errorCases: [string, () => string[]][] = [
    ['no arguments', () => []],
    ['-x without a PID', () => ['-x']],
    ['a non-numeric PID', () => ['abc']],
    ['PID 0', () => ['0']],
    ['trailing characters', () => ['123abc']],
    ['a PID with a colon, whose "host" is only digits', () => ['1:2']],
    ['a PID with a colon after digits and dots', () => ['-x', '10.1:2']],
    ['a PID above 0x7fffffff', () => ['2147483648']],
    ['only /proc/self', () => ['/proc/self']],
    ['-r', () => ['-r', String(a)]],
    ['-x -X', () => ['-x', '-X', String(a)]],
    ['-x -d', () => ['-x', '-d', String(a)]],
    ['-n with a PID', () => ['-n', String(a)]],
    ['-n -q', () => ['-n', '-q']],
    ['-A 1,2,3', () => ['-A', '1,2,3', String(a)]],
    ['an unknown option', () => ['-z', String(a)]],
    ['an ambiguous long option', () => ['--r', String(a)]],
    ['256 PIDs', () => Array(256).fill(String(a))],
    ['a missing rc file', () => ['-C', join(home, 'none'), String(a)]],
  ];
  for (const [name, args] of errorCases) it(`fails like pmap: ${name}`, same(args));

  it('reports a write error on a full device with exit status 1', () => {
    const full = (cmd: string, args: string[]) => {
      const fd = openSync('/dev/full', 'w');
      try {
        return run(cmd, args, { stdout: fd });
      } finally {
        closeSync(fd);
      }
    };
    const theirs = full(PMAP, [String(a)]);
    const ours = full(process.execPath, [BIN, String(a)]);
    expect(ours.stderr).toBe('pmap: write error: No space left on device\n');
    expect(ours).toEqual(theirs);
  });
});

describe.skipIf(skip)('extensions', () => {
  it('--json gives one document with every mapping, classes and totals', () => {
    const r = fleetpmap(['--json', String(a), '999999']);
    expect(r.status).toBe(42);
    const doc = JSON.parse(Buffer.from(r.stdout, 'latin1').toString('utf8'));
    const [p, gone] = doc.processes;
    expect(gone).toEqual({ pid: 999999, error: 'not found' });
    expect(p.pid).toBe(a);
    expect(p.command).toBe('sleep 1000');
    const maps = pmap(['-q', String(a)])
      .stdout.trim()
      .split('\n')
      .slice(1);
    expect(p.mappings).toHaveLength(maps.length);
    expect(p.mappings.some((m: { class: string }) => m.class === 'heap')).toBe(true);
    expect(p.regions.file.count).toBeGreaterThan(0);
  });

  it('--sort rss orders -x rows by RSS, largest first, with the same rows and totals', () => {
    const sorted = fleetpmap(['-x', '--sort', 'rss', String(a)]).stdout.split('\n');
    const plain = pmap(['-x', String(a)]).stdout.split('\n');
    const rows = (l: string[]) => l.slice(2, -3);
    expect([...rows(sorted)].sort()).toEqual([...rows(plain)].sort());
    const rss = rows(sorted).map((l) => Number(l.split(/\s+/)[2]));
    expect(rss).toEqual([...rss].sort((x, y) => y - x));
    expect(sorted.slice(-3)).toEqual(plain.slice(-3));
  });

  it('--summary prints a table by region class', () => {
    const r = fleetpmap(['--summary', String(a)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\d+: {3}sleep 1000\nClass {4}Count Size KiB/);
    expect(r.stdout).toContain('\nthread stacks: 0\n');
  });

  it('rejects an unknown --sort field', () => {
    const r = fleetpmap(['--sort', 'nope', String(a)]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unknown sort field 'nope'");
  });

  it('rejects an unknown --sort field in the smaps layouts before printing anything', () => {
    const rc = join(home, 'rss.rc');
    writeFileSync(rc, '[Fields Display]\nRss\nMapping\n');
    for (const layout of [['-X'], ['-XX'], ['-C', rc]]) {
      const r = fleetpmap(['--sort', 'nope', ...layout, String(a)]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^pmap: unknown sort field 'nope' \(available: address, perm, /);
      expect(r.status).toBe(1);
    }
    // The rc file's columns only.
    expect(fleetpmap(['--sort', 'pss', '-C', rc, String(a)]).stdout).toBe('');
    expect(fleetpmap(['--sort', 'RSS', '-C', rc, String(a)]).status).toBe(0);
  });

  it('--sort in -X prints a kernel thread, which has no columns, as pmap does', () => {
    const r = fleetpmap(['--sort', 'rss', '-X', '2', String(a)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(pmap(['-X', '2']).stdout)).toBe(true);
    expect(r.stdout).toContain(`\n${a}:   sleep 1000\n`);
  });
});
