import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyMappings, classifyProcess, compareHex, rangeKb } from './classify.ts';
import { readProcText } from './read.ts';
import { parseSmaps } from './smaps.ts';
import { readStat } from './stat.ts';
import { FIXTURE_PROC, fixturePid } from './test-support.ts';

const EDGE = join(import.meta.dirname, 'fixtures', 'edge', 'smaps');

describe('classify', () => {
  it('classifies every odd mapping of the edge fixture', () => {
    const entries = parseSmaps(readFileSync(EDGE, 'latin1'), EDGE);
    const r = classifyProcess(entries, 0x7ffc00021000n);
    const got = entries.map((e, i) => {
      const c = r.mappings[i];
      return `${e.path || e.start} ${c?.cls}${c?.subclass ? `/${c.subclass}` : ''}`;
    });
    expect(got).toEqual([
      '/opt/app/bin/with space (deleted) file',
      '/opt/caf\xc3\xa9/\xff\xfe\\012x file',
      '[heap] heap',
      '7f0000000000 anon/guard',
      '7f0000001000 anon/threadStack',
      '7f0000801000 anon',
      '7f0000822000 anon/arenaReserve',
      '[anon:my name] anon/named',
      '[anon_shmem:shared name] shmem',
      '/memfd:private (deleted) shmem',
      '/SYSV0000abcd (deleted) shmem',
      '/dev/shm/pool shmem',
      '/dev/zero (deleted) shmem',
      'anon_inode:[io_uring] shmem',
      '[uprobes] special',
      // Unnamed, but it ends exactly at startstack: the main stack by pmap's inclusive rule.
      '7ffc00000000 stack',
      'fffffffff00000 anon',
      '[vsyscall] special',
    ]);
    expect(r.threadStacks).toBe(1);
    expect(r.guards).toBe(1);
    expect(r.regions.shmem.count).toBe(6);
    expect(r.regions.stack).toEqual({
      count: 1,
      sizeKb: 132,
      rssKb: 128,
      pssKb: 64,
      privateDirtyKb: 32,
      swapKb: 0,
    });
    const all = Object.values(r.regions);
    expect(all.reduce((a, t) => a + t.count, 0)).toBe(entries.length);
    expect(all.reduce((a, t) => a + t.rssKb, 0)).toBe(
      entries.reduce((a, e) => a + (e.kb.Rss ?? 0), 0),
    );
  });

  it('finds the main stack and thread stacks of a live-captured threaded process', async () => {
    const pid = fixturePid('we) ir\td');
    const entries = parseSmaps(await readProcText(`${FIXTURE_PROC}/${pid}/smaps`), 'smaps');
    const st = await readStat(pid, FIXTURE_PROC);
    const r = classifyProcess(entries, st.startStack);
    // The workload starts 3 threads; the 4th task is the main thread.
    expect(r.threadStacks).toBe(st.numThreads - 1);
    expect(r.regions.stack.count).toBe(1);
    expect(r.regions.heap.count).toBe(1);
    // /dev/zero shared, SysV, memfd and the MAP_SHARED file with spaces.
    expect(r.regions.shmem.count).toBe(4);
    expect(r.regions.special.count).toBeGreaterThanOrEqual(3);
    // Without startstack the named [stack] still counts.
    expect(classifyMappings(entries, null).filter((c) => c.cls === 'stack')).toHaveLength(1);
  });

  it('compares and measures addresses beyond 2^53 exactly', () => {
    expect(compareHex('ffffffffff600000', 'ffffffffff600001')).toBe(-1);
    expect(compareHex('00400000', '400000')).toBe(0);
    expect(compareHex('fffffffff00000', '7ffc00021000')).toBe(1);
    expect(rangeKb('ffffffffff600000', 'ffffffffff601000')).toBe(4);
    expect(rangeKb('fffffffffff000', '100000000000000')).toBe(4);
    expect(rangeKb('7f0000001000', '7f0000801000')).toBe(8192);
    expect(rangeKb('2000', '1000')).toBe(0);
  });
});
