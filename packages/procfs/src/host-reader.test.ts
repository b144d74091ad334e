import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listPids, type ProcessReadResult, readHost, readProcess } from './host-reader.ts';
import { streamProcText } from './read.ts';
import { parseSmaps, SmapsParser } from './smaps.ts';
import { FIXTURE_PROC, fixturePid } from './test-support.ts';

async function collect(it: AsyncIterable<ProcessReadResult>): Promise<ProcessReadResult[]> {
  const out: ProcessReadResult[] = [];
  for await (const r of it) out.push(r);
  return out;
}

const scratch = mkdtempSync(join(tmpdir(), 'procfs-reader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('readHost on the captured tree', () => {
  it('reads every process and returns failures as data', async () => {
    const results = await collect(readHost({ procRoot: FIXTURE_PROC, tier: 'full' }));
    const byPid = new Map(results.map((r) => [r.pid, r]));
    expect(results.map((r) => r.pid)).toEqual(await listPids(FIXTURE_PROC));

    const kthread = byPid.get(2);
    expect(kthread).toMatchObject({
      kernelThread: true,
      comm: 'kthreadd',
      error: { code: 'NOMM' },
    });
    expect(kthread?.cmdline?.text).toBe('');

    // pid 1's maps were not readable when captured: its cheap data is still there.
    const init = byPid.get(1);
    expect(init?.error?.code).toBe('ENOENT');
    expect(init?.stat?.pid).toBe(1);
    expect(init?.status?.vmRssKb).toBeGreaterThan(0);

    const wl = byPid.get(fixturePid('we) ir\td'));
    expect(wl?.error).toBeUndefined();
    expect(wl?.comm).toBe('we) ir\td');
    expect(wl?.regions?.threadStacks).toBe(3);
    expect(wl?.mappings?.length).toBe(wl?.mappingCount);
    expect(wl?.mappingClasses?.length).toBe(wl?.mappingCount);
    const rss = Object.values(wl?.regions?.regions ?? {}).reduce((a, t) => a + t.rssKb, 0);
    expect(rss).toBe(wl?.mappings?.reduce((a, m) => a + (m.kb.Rss ?? 0), 0));
    for (const r of results) expect(r.readCostMs).toBeGreaterThan(0);
  });

  it('chooses the tier per process after the cheap read', async () => {
    const sleep = fixturePid('sleep');
    const results = await collect(
      readHost({
        procRoot: FIXTURE_PROC,
        tier: ({ pid }) => (pid === sleep ? 'rollup' : 'cheap'),
      }),
    );
    for (const r of results) {
      expect(r.tier).toBe(r.pid === sleep ? 'rollup' : 'cheap');
      expect(r.rollup !== undefined).toBe(r.pid === sleep);
      expect(r.mappings).toBeUndefined();
    }
    expect(results.find((r) => r.pid === sleep)?.rollup?.rssKb).toBeGreaterThan(0);
  });

  it('keeps only totals when asked, with the same result', async () => {
    const pid = fixturePid('we) ir\td');
    const kept = await readProcess(pid, { procRoot: FIXTURE_PROC, tier: 'full' });
    const lean = await readProcess(pid, {
      procRoot: FIXTURE_PROC,
      tier: 'full',
      keepMappings: false,
    });
    expect(lean.mappings).toBeUndefined();
    expect(lean.regions).toEqual(kept.regions);
  });

  it('applies filter, process and mapping limits', async () => {
    const sleep = fixturePid('sleep');
    const only = await collect(readHost({ procRoot: FIXTURE_PROC, filter: (p) => p === sleep }));
    expect(only.map((r) => r.pid)).toEqual([sleep]);
    expect(await collect(readHost({ procRoot: FIXTURE_PROC, maxProcesses: 2 }))).toHaveLength(2);
    const capped = await readProcess(sleep, {
      procRoot: FIXTURE_PROC,
      tier: 'full',
      maxMappings: 5,
    });
    expect(capped.error?.code).toBe('ETOOBIG');
    expect(capped.mappingCount).toBe(5);
    const small = await readProcess(sleep, {
      procRoot: FIXTURE_PROC,
      tier: 'full',
      maxSmapsBytes: 1000,
    });
    expect(small.error?.code).toBe('ETOOBIG');
  });

  it('reports a malformed smaps with its file and line, keeping what was parsed', async () => {
    const pid = fixturePid('sleep');
    const root = join(scratch, 'corrupt');
    cpSync(join(FIXTURE_PROC, String(pid)), join(root, String(pid)), { recursive: true });
    const smaps = readFileSync(join(root, String(pid), 'smaps'), 'latin1');
    const lines = smaps.split('\n');
    lines.splice(30, 0, 'this is not smaps');
    writeFileSync(join(root, String(pid), 'smaps'), lines.join('\n'), 'latin1');
    const r = await readProcess(pid, { procRoot: root, tier: 'full' });
    expect(r.error?.code).toBe('EPARSE');
    expect(r.error?.message).toContain(`${root}/${pid}/smaps line 31`);
    expect(r.mappingCount).toBeGreaterThan(0);
    expect(r.stat?.comm).toBe('sleep');
  });
});

describe('readProcess on the live /proc', () => {
  it('reads this process in full', async () => {
    const r = await readProcess(process.pid, { tier: 'full' });
    expect(r.error).toBeUndefined();
    expect(r.stat?.pid).toBe(process.pid);
    expect(r.exe).toMatch(/node$/);
    expect(r.regions?.regions.heap.count).toBe(1);
    expect(r.regions?.regions.stack.count).toBe(1);
    // node runs worker threads: their stacks are found.
    expect(r.regions?.threadStacks).toBeGreaterThan(0);
    expect(r.mappingCount).toBeGreaterThan(50);
  });

  it('returns ENOENT for a process that is gone', async () => {
    const child = spawn('true');
    await new Promise((resolve) => child.on('exit', resolve));
    const r = await readProcess(child.pid ?? 0, { tier: 'full' });
    expect(r.error?.code).toBe('ENOENT');
    expect(r.stat).toBeUndefined();
  });

  it('streams a smaps in small chunks to the same entries', async () => {
    const path = join(FIXTURE_PROC, String(fixturePid('we) ir\td')), 'smaps');
    const whole = parseSmaps(readFileSync(path, 'latin1'), path);
    const streamed: unknown[] = [];
    const parser = new SmapsParser(path, (e) => streamed.push(e));
    const bytes = await streamProcText(path, (c) => parser.write(c), { chunkBytes: 997 });
    parser.end();
    expect(bytes).toBe(readFileSync(path).length);
    expect(streamed).toEqual(whole);
  });
});
