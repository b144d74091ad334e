import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProcfsParseError } from './errors.ts';
import { parseStat, readStat } from './stat.ts';
import { FIXTURE_PROC, fixturePid, fixtureText, thrown } from './test-support.ts';

describe('parseStat', () => {
  it('reads a comm with a space, a ) and a tab from a captured stat', async () => {
    const pid = fixturePid('we) ir\td');
    const st = await readStat(pid, FIXTURE_PROC);
    expect(st).toMatchObject({ pid, comm: 'we) ir\td', state: 'S', numThreads: 4 });
    expect(st.kernelThread).toBe(false);
    expect(st.startTicks).toBeGreaterThan(0);
    // startstack lies inside the captured [stack] mapping (the pmap `[ stack ]` rule).
    const stackLine = fixtureText(pid, 'maps')
      .split('\n')
      .find((l) => l.endsWith('[stack]'));
    const [lo, hi] = (stackLine ?? '').split(' ')[0]?.split('-') ?? [];
    expect(BigInt(`0x${lo}`) <= st.startStack && st.startStack <= BigInt(`0x${hi}`)).toBe(true);
  });

  it('recognises a kernel thread and pid 1', async () => {
    expect(await readStat(2, FIXTURE_PROC)).toMatchObject({
      pid: 2,
      comm: 'kthreadd',
      kernelThread: true,
      startStack: 0n,
    });
    expect(await readStat(1, FIXTURE_PROC)).toMatchObject({ pid: 1, ppid: 0, kernelThread: false });
  });

  it('keeps the comm between the first ( and the last )', () => {
    const rest = ' Z 1 2 3 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 1 2 3 4 0 0 0 0 0 0 0 0 0';
    const st = parseStat(`77 (a) (b) ) c)${rest}\n`, 'stat');
    expect(st).toMatchObject({ pid: 77, comm: 'a) (b) ) c', state: 'Z', startTicks: 99 });
  });

  it('rejects truncated and garbled stat text with a typed error', () => {
    for (const bad of [
      '',
      '12 (x',
      '12 (x) S 1 2',
      'abc (x) S 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0',
    ]) {
      expect(
        thrown(() => parseStat(bad, 'stat')),
        bad,
      ).toBeInstanceOf(ProcfsParseError);
    }
  });

  it('reads a live process started with a weird name', async () => {
    // The kernel takes comm from the executed file's name, so run sleep through a symlink.
    const dir = mkdtempSync(join(tmpdir(), 'procfs-stat-'));
    const link = join(dir, 'we) ir d');
    symlinkSync('/bin/sleep', link);
    const child = spawn(link, ['30'], { stdio: 'ignore' });
    try {
      let st = await readStat(child.pid ?? 0);
      for (let i = 0; i < 100 && st.comm !== 'we) ir d'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        st = await readStat(child.pid ?? 0);
      }
      expect(st).toMatchObject({ pid: child.pid, comm: 'we) ir d', ppid: process.pid });
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true });
    }
  });
});
