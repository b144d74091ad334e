import { mkdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Collector, type CycleResult, type TierConfig } from './collector.ts';
import { type ProcSource, procfsSource } from './proc-source.ts';
import { copyFixtureTree, FakeClock, setStatusKb, statusKb } from './test-support.ts';

const cfg: TierConfig = {
  rollupIntervalMs: 300_000,
  fullIntervalMs: 900_000,
  growthTriggerKb: 1024,
  readBudgetMs: 200,
  cycleBudgetMs: 5_000,
  maxRssKb: 32 * 1024 * 1024,
  maxMappings: 20_000,
  maxBackoffLevel: 5,
};

const SLEEP = 1200;
const PYTHON = 1300;
const KTHREADD = 2;

function tierOf(r: CycleResult, pid: number) {
  return r.records.find((p) => p.pid === pid)?.tier;
}

/** Rewrites the comm in a fixture's stat, as an exec or a rename shows it. */
async function setStatComm(root: string, pid: number, comm: string) {
  const path = join(root, String(pid), 'stat');
  const text = await readFile(path, 'utf8');
  await writeFile(path, text.replace(/\(.*\)/, `(${comm})`));
}

/** Rewrites one field of a fixture's stat, numbered as in proc(5). */
async function setStatField(root: string, pid: number, field: number, value: string) {
  const path = join(root, String(pid), 'stat');
  const text = await readFile(path, 'utf8');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  f[field - 3] = value;
  await writeFile(path, `${text.slice(0, close + 2)}${f.join(' ')}`);
}

/** The real reader, with the kernel's cost of some reads played by the fake clock. */
function slowFor(source: ProcSource, clock: FakeClock, costs: Record<number, number>): ProcSource {
  return {
    ...source,
    async readRollup(pid) {
      clock.advance(costs[pid] ?? 0);
      return source.readRollup(pid);
    },
  };
}

describe('Collector on a fixture proc tree', () => {
  let root: string;
  let clock: FakeClock;
  beforeEach(async () => {
    root = await copyFixtureTree();
    clock = new FakeClock();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads every process cheaply and the rollups of new processes on the first cycle', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    const r = await c.cycle();
    expect(r.records.map((p) => p.pid)).toEqual([KTHREADD, SLEEP, PYTHON]);
    const py = r.records.find((p) => p.pid === PYTHON);
    expect(py?.tier).toBe('rollup');
    expect(py?.comm).toBe('python3');
    expect(py?.cmdline).toBe('python3 -c import time,sys; x=bytearray(8<<20); time.sleep(1000)');
    expect(py?.exe).toBe('/usr/bin/python3');
    expect(py?.cgroup).toBe('/');
    expect(py?.status.rssAnonKb).toBe(await statusKb(root, PYTHON, 'RssAnon'));
    expect(py?.rollup?.pssKb).toBeGreaterThan(0);
    expect(py?.mappings).toBeUndefined();
    // A kernel thread has no address space: one cheap record, no failed expensive read.
    const kt = r.records.find((p) => p.pid === KTHREADD);
    expect(kt?.tier).toBe('cheap');
    expect(kt?.error).toBeUndefined();
    expect(kt?.cmdline).toBe('');
    expect(r.tiers.cheap.count).toBe(3);
    expect(r.tiers.rollup.count).toBe(2);
    expect(r.skipped).toEqual([]);
  });

  it('maps new processes within one full interval, not all in the first cycle', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    const firstFullAt = new Map<number, number>();
    for (let t = 0; t <= cfg.fullIntervalMs; t += 30_000) {
      const r = await c.cycle();
      for (const p of r.records) {
        if (p.tier === 'full' && !firstFullAt.has(p.pid)) firstFullAt.set(p.pid, t);
      }
      clock.advance(30_000);
    }
    expect([...firstFullAt.keys()].sort()).toEqual([SLEEP, PYTHON]);
    expect(firstFullAt.get(SLEEP)).not.toBe(firstFullAt.get(PYTHON));
  });

  it('reads the whole map with its region totals on demand', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    const r = await c.cycle({ forceFull: true });
    const py = r.records.find((p) => p.pid === PYTHON);
    expect(py?.tier).toBe('full');
    expect(py?.mappings).toHaveLength(105);
    // The 8 MiB bytearray lives in anonymous memory (heap or anon mappings), not in files.
    const regions = py?.regions;
    expect((regions?.heap.rssKb ?? 0) + (regions?.anon.rssKb ?? 0)).toBeGreaterThan(8 * 1024);
    expect(regions?.stack.count).toBe(1);
    const rss = (py?.mappings ?? []).reduce((a, m) => a + (m.kb.Rss ?? 0), 0);
    expect(Object.values(regions ?? {}).reduce((a, t) => a + t.rssKb, 0)).toBe(rss);
    expect(r.tiers.full.count).toBe(2);
  });

  it('stays on the cheap tier between intervals and reads rollups at once for growth', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    await c.cycle({ forceFull: true });
    clock.advance(30_000);
    const quiet = await c.cycle();
    expect(quiet.records.map((p) => p.tier)).toEqual(['cheap', 'cheap', 'cheap']);
    expect(quiet.records.every((p) => p.rollup === undefined && p.mappings === undefined)).toBe(
      true,
    );

    const anon = await statusKb(root, PYTHON, 'RssAnon');
    await setStatusKb(root, PYTHON, 'RssAnon', anon + 2048);
    clock.advance(30_000);
    const grown = await c.cycle();
    expect(tierOf(grown, PYTHON)).toBe('rollup');
    expect(tierOf(grown, SLEEP)).toBe('cheap');
    expect(grown.records.find((p) => p.pid === PYTHON)?.status.rssAnonKb).toBe(anon + 2048);

    // Growth below the trigger does not.
    await setStatusKb(root, PYTHON, 'RssAnon', anon + 2048 + 512);
    clock.advance(30_000);
    expect(tierOf(await c.cycle(), PYTHON)).toBe('cheap');

    clock.advance(cfg.rollupIntervalMs);
    const due = await c.cycle();
    expect(tierOf(due, PYTHON)).toBe('rollup');
    expect(tierOf(due, SLEEP)).toBe('rollup');

    clock.advance(cfg.fullIntervalMs);
    const full = await c.cycle();
    expect(tierOf(full, SLEEP)).toBe('full');
  });

  it('reads the full map of a process that keeps growing', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    await c.cycle({ forceFull: true });
    const anon = await statusKb(root, PYTHON, 'RssAnon');
    const tiers: (string | undefined)[] = [];
    for (let i = 1; i <= 5; i++) {
      await setStatusKb(root, PYTHON, 'RssAnon', anon + i * 1500);
      clock.advance(60_000);
      tiers.push(tierOf(await c.cycle(), PYTHON));
    }
    // Each step over the trigger gets a rollup; once it has grown 4x the trigger since its last
    // map, it is mapped again after one rollup interval instead of the full interval.
    expect(tiers).toEqual(['rollup', 'rollup', 'rollup', 'rollup', 'full']);
  });

  it('backs off a process whose expensive read was slow and reports it as skipped', async () => {
    const base = procfsSource({ procRoot: root });
    const rollupOnly = { ...cfg, fullIntervalMs: 1e9 };
    const c = new Collector(slowFor(base, clock, { [PYTHON]: 500 }), clock, rollupOnly);
    const first = await c.cycle();
    expect(tierOf(first, PYTHON)).toBe('rollup');
    expect(first.records.find((p) => p.pid === PYTHON)?.readCostMs).toBeGreaterThanOrEqual(500);

    clock.advance(cfg.rollupIntervalMs);
    const held = await c.cycle();
    expect(tierOf(held, PYTHON)).toBe('cheap');
    expect(tierOf(held, SLEEP)).toBe('rollup');
    const skip = held.skipped.find((s) => s.pid === PYTHON);
    expect(skip?.comm).toBe('python3');
    expect(skip?.reason).toMatch(/^rollup: backoff x2 \(read took 500 ms, budget 200 ms\)/);

    // Twice the interval later it is read again, and backs off further.
    clock.advance(cfg.rollupIntervalMs);
    expect(tierOf(await c.cycle(), PYTHON)).toBe('rollup');
    clock.advance(2 * cfg.rollupIntervalMs);
    const again = await c.cycle();
    expect(again.skipped.find((s) => s.pid === PYTHON)?.reason).toMatch(/backoff x4/);
  });

  it('backs off the full maps of processes over the RSS limit, not their rollups', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, { ...cfg, maxRssKb: 10_000 });
    await c.cycle();
    clock.advance(cfg.fullIntervalMs);
    const mapped = await c.cycle();
    expect(tierOf(mapped, PYTHON)).toBe('full');
    expect(tierOf(mapped, SLEEP)).toBe('full');
    clock.advance(cfg.fullIntervalMs);
    const r = await c.cycle();
    expect(r.skipped.find((s) => s.pid === PYTHON)?.reason).toMatch(
      /^full: backoff x2 \(rss \d+ kB over 10000 kB\)/,
    );
    // Its rollup was due: it is read, the map alone waits.
    expect(tierOf(r, PYTHON)).toBe('rollup');
    expect(tierOf(r, SLEEP)).toBe('full');
  });

  it('keeps reading the rollups of a process whose full map is backed off', async () => {
    // 105 mappings over a limit of 100: each map over the limit doubles the full interval.
    const tiers = { ...cfg, rollupIntervalMs: 10_000, fullIntervalMs: 30_000, maxMappings: 100 };
    const base = procfsSource({ procRoot: root });
    let mappings = 105;
    const source: ProcSource = {
      ...base,
      async readFull(pid, startStack) {
        const r = await base.readFull(pid, startStack);
        if (r.ok && pid === PYTHON) r.value.mappings = r.value.mappings.slice(0, mappings);
        return r;
      },
    };
    const c = new Collector(source, clock, tiers);
    const maps: number[] = [];
    const reads: number[] = [];
    const reasons: string[][] = [];
    for (let t = 0; t <= 900_000; t += 5_000) {
      const r = await c.cycle();
      const tier = tierOf(r, PYTHON);
      if (tier === 'full') {
        maps.push(t);
        reasons.push([]);
        // After three maps over the limit, the process drops under it.
        if (maps.length === 3) mappings = 50;
      }
      if (tier !== 'cheap') reads.push(t);
      const skip = r.skipped.find((s) => s.pid === PYTHON)?.reason;
      if (skip) reasons.at(-1)?.push(skip);
      clock.advance(5_000);
    }
    const gaps = (xs: number[]) => xs.slice(1).map((x, i) => x - (xs[i] as number));
    // Over the limit the gap doubles with each map; within it, it halves with each map.
    expect(gaps(maps).slice(0, 6)).toEqual([60_000, 120_000, 240_000, 120_000, 60_000, 30_000]);
    // Meanwhile the rollup keeps its own schedule: never more than one rollup interval unread.
    expect(Math.max(...gaps(reads))).toBeLessThanOrEqual(10_000);
    // Between the first two maps the held map is reported as x2 every time: the rollups in
    // between, cheap and within budget, do not raise it.
    expect(new Set(reasons[0])).toEqual(new Set(['full: backoff x2 (105 mappings over 100)']));
    expect(reasons[3]?.[0]).toBe('full: backoff x4 (easing off: last read within budget)');
  });

  it('reads rollups at once for growth while the full map of a large process is held', async () => {
    // 105 mappings over 100, growing 2 MiB/s: every full map raises its level.
    const tiers = { ...cfg, rollupIntervalMs: 10_000, fullIntervalMs: 30_000, maxMappings: 100 };
    const c = new Collector(procfsSource({ procRoot: root }), clock, tiers);
    const anon0 = await statusKb(root, PYTHON, 'RssAnon');
    const seen: { t: number; tier?: string; anon?: number }[] = [];
    let firstHeld: string | undefined;
    for (let t = 0; t <= 300_000; t += 5_000) {
      await setStatusKb(root, PYTHON, 'RssAnon', anon0 + (t / 1000) * 2048);
      const r = await c.cycle();
      const py = r.records.find((p) => p.pid === PYTHON);
      seen.push({ t, tier: py?.tier, anon: py?.status.rssAnonKb });
      firstHeld ??= r.skipped.find((s) => s.pid === PYTHON)?.reason;
      clock.advance(5_000);
    }
    expect(firstHeld).toBe('full: backoff x2 (105 mappings over 100)');
    // Every cycle reads it (it grew past the trigger each time), and it is mapped again at
    // least every full interval while it grows: the map waits, the growth is still seen.
    expect(seen.filter((s) => s.tier === 'cheap').map((s) => s.t)).toEqual([]);
    const maps = seen.filter((s) => s.tier === 'full').map((s) => s.t);
    expect(maps.length).toBeGreaterThanOrEqual(9);
    expect(maps.slice(1).every((t, i) => t - (maps[i] as number) <= 30_000)).toBe(true);
  });

  it('gives the expensive reads their budget however long the cheap pass took', async () => {
    const base = procfsSource({ procRoot: root });
    // Reading stat and status of each process takes 10 ms: 30 ms a cycle, over a 20 ms budget.
    const slowCheap: ProcSource = {
      ...base,
      async readCheap(pid) {
        clock.advance(10);
        return base.readCheap(pid);
      },
    };
    const c = new Collector(slowFor(slowCheap, clock, { [SLEEP]: 15, [PYTHON]: 15 }), clock, {
      ...cfg,
      cycleBudgetMs: 20,
    });
    const r = await c.cycle();
    expect(r.tiers.cheap.ms).toBeGreaterThanOrEqual(30);
    // 15 ms of rollups is within the budget; the next read starts before it is spent.
    expect(tierOf(r, SLEEP)).toBe('rollup');
    expect(tierOf(r, PYTHON)).toBe('rollup');
    expect(r.skipped).toEqual([]);
  });

  it('stops expensive reads at the cycle budget and catches up on the next cycle', async () => {
    const base = procfsSource({ procRoot: root });
    const budget = { ...cfg, cycleBudgetMs: 100, readBudgetMs: 1000 };
    const c = new Collector(slowFor(base, clock, { [SLEEP]: 150, [PYTHON]: 150 }), clock, budget);
    const r = await c.cycle();
    const read = r.records.filter((p) => p.tier === 'rollup').map((p) => p.pid);
    expect(read).toHaveLength(1);
    const other = read[0] === SLEEP ? PYTHON : SLEEP;
    expect(r.skipped).toEqual([
      expect.objectContaining({ pid: other, reason: 'rollup: cycle budget of 100 ms used' }),
    ]);
    clock.advance(30_000);
    const next = await c.cycle();
    expect(tierOf(next, other)).toBe('rollup');
  });

  it('treats a reused pid as a new process', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    await c.cycle();
    clock.advance(30_000);
    const statPath = join(root, String(SLEEP), 'stat');
    const fields = (await readFile(statPath, 'utf8')).split(' ');
    fields[21] = String(Number(fields[21]) + 3000);
    await writeFile(statPath, fields.join(' '));
    await writeFile(join(root, String(SLEEP), 'comm'), 'reborn\n');
    const r = await c.cycle();
    const rec = r.records.find((p) => p.pid === SLEEP);
    expect(rec?.comm).toBe('reborn');
    expect(rec?.tier).toBe('rollup');
    expect(tierOf(r, PYTHON)).toBe('cheap');
  });

  it('reads the identity again after an exec', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    const first = await c.cycle();
    expect(first.records.find((p) => p.pid === SLEEP)).toMatchObject({
      comm: 'sleep',
      exe: '/usr/bin/sleep',
    });
    // `bash -c 'sleep 45; exec python3 …'`: same pid and start time, a new program.
    const dir = join(root, String(SLEEP));
    await setStatComm(root, SLEEP, 'python3');
    await writeFile(join(dir, 'comm'), 'python3\n');
    await writeFile(join(dir, 'cmdline'), 'python3\0-m\0http.server\0');
    await unlink(join(dir, 'exe'));
    await symlink('/usr/bin/python3.12', join(dir, 'exe'));
    clock.advance(30_000);
    const after = await c.cycle();
    expect(after.records.find((p) => p.pid === SLEEP)).toMatchObject({
      comm: 'python3',
      cmdline: 'python3 -m http.server',
      exe: '/usr/bin/python3.12',
    });
    // An exec of a program of the same name shows as a new stack start.
    await writeFile(join(dir, 'cmdline'), 'python3\0worker.py\0');
    await setStatField(root, SLEEP, 28, '140726725070000');
    clock.advance(30_000);
    const again = await c.cycle();
    expect(again.records.find((p) => p.pid === SLEEP)?.cmdline).toBe('python3 worker.py');
  });

  it('cuts a command line of megabytes at the protocol limit instead of losing it', async () => {
    const dir = join(root, String(PYTHON));
    // 1.44 MB of arguments; then the same in a three-byte character, cut mid-character by the
    // read: neither is an error, both are the first 4096 characters and say they were cut.
    const ascii = `python3\0${'a'.repeat(120_000)}\0`.repeat(12);
    await writeFile(join(dir, 'cmdline'), ascii);
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    const py = (await c.cycle()).records.find((p) => p.pid === PYTHON);
    expect(py?.error).toBeUndefined();
    expect(py?.cmdline).toBe(`python3 ${'a'.repeat(4096 - 8)}`);
    expect(py?.cmdlineTruncated).toBe(true);

    await writeFile(join(dir, 'cmdline'), `${'€'.repeat(600_000)}\0`);
    const c2 = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    const euro = (await c2.cycle()).records.find((p) => p.pid === PYTHON);
    expect(euro?.error).toBeUndefined();
    expect(euro?.cmdline).toBe('€'.repeat(4096));
    expect(euro?.cmdlineBase64).toBeUndefined();
    expect(euro?.cmdlineTruncated).toBe(true);
  });

  it('tries a refused rollup again once per full interval and reports it once', async () => {
    const base = procfsSource({ procRoot: root });
    let tries = 0;
    const source: ProcSource = {
      ...base,
      async readRollup(pid) {
        clock.advance(150);
        if (pid !== SLEEP) return base.readRollup(pid);
        tries++;
        return { ok: false, error: { code: 'EACCES', message: 'permission denied' } };
      },
    };
    // One read a cycle: the refused process must not take it from the growing one.
    const c = new Collector(source, clock, { ...cfg, cycleBudgetMs: 100, readBudgetMs: 1000 });
    const anon = await statusKb(root, PYTHON, 'RssAnon');
    const skipped: string[] = [];
    const pyTiers: (string | undefined)[] = [];
    const sleepErrors: (string | undefined)[] = [];
    for (let i = 0; i < 32; i++) {
      // It grows for the first ten minutes, then stays put.
      if (i <= 20) await setStatusKb(root, PYTHON, 'RssAnon', anon + i * 2048);
      const r = await c.cycle();
      skipped.push(...r.skipped.filter((s) => s.pid === SLEEP).map((s) => s.reason));
      if (i > 0 && i <= 20) pyTiers.push(tierOf(r, PYTHON));
      sleepErrors.push(r.records.find((p) => p.pid === SLEEP)?.error?.code);
      clock.advance(30_000);
    }
    // 32 cycles of 30 s: the first try, and one more after 15 min.
    expect(tries).toBe(2);
    expect(skipped).toEqual(['rollup: EACCES, tried again every 15 min']);
    expect(pyTiers).toHaveLength(20);
    expect(pyTiers.every((t) => t === 'rollup' || t === 'full')).toBe(true);
    // Every record still says what could not be read.
    expect(sleepErrors.every((e) => e === 'EACCES')).toBe(true);
  });

  it('reads the cgroup again every rollup interval, not every cycle', async () => {
    const base = procfsSource({ procRoot: root });
    const reads: number[] = [];
    const source: ProcSource = {
      ...base,
      async readCgroup(pid) {
        reads.push(pid);
        return base.readCgroup(pid);
      },
    };
    const c = new Collector(source, clock, cfg);
    for (let t = 0; t < cfg.rollupIntervalMs; t += 30_000) {
      await c.cycle();
      clock.advance(30_000);
    }
    // Ten cycles: each process once (a kernel thread never moves), not every cycle.
    expect(reads.sort()).toEqual([SLEEP, PYTHON]);
  });

  it('follows a command line rewritten without an exec within one rollup interval', async () => {
    const base = procfsSource({ procRoot: root });
    const reads: number[] = [];
    const source: ProcSource = {
      ...base,
      async readCmdline(pid) {
        reads.push(pid);
        return base.readCmdline(pid);
      },
    };
    const c = new Collector(source, clock, cfg);
    const cmdlineOf = (r: CycleResult, pid: number) =>
      r.records.find((p) => p.pid === pid)?.cmdline;
    expect(cmdlineOf(await c.cycle(), PYTHON)).toBe(
      'python3 -c import time,sys; x=bytearray(8<<20); time.sleep(1000)',
    );
    // setproctitle: the argv area is overwritten in place; comm and the stack start stay.
    const title = `postgres: checkpointer ${'x'.repeat(20_000)}`;
    await writeFile(join(root, String(PYTHON), 'cmdline'), `${title}\0`);
    // Empty is what a process reads once its address space is gone: not a new title.
    await writeFile(join(root, String(SLEEP), 'cmdline'), '');
    const seen: (string | undefined)[] = [];
    let last: CycleResult | undefined;
    for (let t = 30_000; t <= cfg.rollupIntervalMs; t += 30_000) {
      clock.advance(30_000);
      last = await c.cycle();
      seen.push(cmdlineOf(last, PYTHON));
    }
    const py = last?.records.find((p) => p.pid === PYTHON);
    // Cut as the first reading would be: 16 KiB read, 4096 characters kept.
    expect(py?.cmdline).toBe(title.slice(0, 4096));
    expect(py?.cmdlineTruncated).toBe(true);
    expect(py?.comm).toBe('python3');
    // Sent from the cycle that read it on, in every record after it.
    const from = seen.indexOf(py?.cmdline);
    expect(from).toBeGreaterThanOrEqual(0);
    expect(seen.slice(from).every((s) => s === py?.cmdline)).toBe(true);
    expect(cmdlineOf(last as CycleResult, SLEEP)).toBe('fixture-sleep 1000');
    // One read per process per rollup interval, not one per cycle; none for a kernel thread.
    expect(reads.sort()).toEqual([SLEEP, PYTHON]);
  });

  it('reads every map on demand, whatever the schedule and guards say', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, { ...cfg, maxRssKb: 1 });
    await c.cycle();
    clock.advance(30_000);
    const r = await c.cycle({ forceFull: true });
    expect(tierOf(r, SLEEP)).toBe('full');
    expect(tierOf(r, PYTHON)).toBe('full');
    expect(r.skipped).toEqual([]);
  });

  it('reports a process that vanished mid-read as gone, not as an error', async () => {
    const c = new Collector(procfsSource({ procRoot: root }), clock, cfg);
    await rm(join(root, String(SLEEP), 'status'));
    const r = await c.cycle();
    expect(r.records.map((p) => p.pid)).toEqual([KTHREADD, PYTHON]);
    expect(r.skipped).toEqual([]);
  });

  it('leaves out a process that exits during its rollup or full read, not as an error', async () => {
    // The process exits between its cheap read and the expensive one.
    const exitsDuring = (tier: 'readRollup' | 'readFull'): ProcSource => {
      const source = procfsSource({ procRoot: root });
      return {
        ...source,
        async [tier](pid: number, startStack: number) {
          if (pid === PYTHON) await rm(join(root, String(PYTHON)), { recursive: true });
          return source[tier](pid, startStack);
        },
      };
    };
    const rollup = await new Collector(exitsDuring('readRollup'), clock, cfg).cycle();
    expect(rollup.records.map((p) => p.pid)).toEqual([KTHREADD, SLEEP]);
    expect(rollup.records.some((p) => p.error)).toBe(false);
    expect(rollup.processCount).toBe(2);

    await rm(root, { recursive: true, force: true });
    root = await copyFixtureTree();
    const streamed: number[] = [];
    const full = await new Collector(exitsDuring('readFull'), clock, cfg).cycle({
      forceFull: true,
      onRecord: (r) => {
        streamed.push(r.pid);
      },
    });
    expect(streamed).toEqual([KTHREADD, SLEEP]);
    expect(full.skipped).toEqual([]);

    // A process still there whose rollup file is missing (a kernel without smaps_rollup) is
    // still sent, with the error.
    await rm(root, { recursive: true, force: true });
    root = await copyFixtureTree();
    await rm(join(root, String(PYTHON), 'smaps_rollup'));
    const missing = await new Collector(procfsSource({ procRoot: root }), clock, cfg).cycle();
    expect(missing.records.find((p) => p.pid === PYTHON)?.error?.code).toBe('ENOENT');
  });

  it('sends the cgroup memory limit of each process and follows a change at run time', async () => {
    // The fixture's processes: sleep and python3 in one v1 memory cgroup, kthreadd in the root.
    const leaf = 'process_api/d27cae206cfc8b48b621d30101d81567';
    const sys = join(root, 'sys-tree');
    const memory = join(sys, 'fs/cgroup/memory');
    await mkdir(join(memory, leaf), { recursive: true });
    await mkdir(join(root, 'self'), { recursive: true });
    await writeFile(
      join(root, 'self/mountinfo'),
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n',
    );
    const setLimit = (dir: string, bytes: string) =>
      writeFile(join(memory, dir, 'memory.limit_in_bytes'), `${bytes}\n`);
    await setLimit('', '9223372036854771712');
    await setLimit('process_api', '9223372036854771712');
    await setLimit(leaf, String(512 * 1024 * 1024));
    const c = new Collector(procfsSource({ procRoot: root, sysRoot: sys }), clock, cfg);
    const limits = (r: CycleResult) =>
      Object.fromEntries(r.records.map((p) => [p.pid, p.memoryLimitKb]));
    expect(limits(await c.cycle())).toEqual({
      [KTHREADD]: undefined,
      [SLEEP]: 512 * 1024,
      [PYTHON]: 512 * 1024,
    });
    // systemctl set-property / docker update at run time: the next cycle sends the new limit.
    await setLimit('process_api', String(256 * 1024 * 1024));
    clock.advance(10_000);
    expect(limits(await c.cycle())).toMatchObject({ [SLEEP]: 256 * 1024, [PYTHON]: 256 * 1024 });
    await setLimit('process_api', '9223372036854771712');
    await setLimit(leaf, '9223372036854771712');
    clock.advance(10_000);
    const none = await c.cycle();
    expect(none.records.every((p) => !('memoryLimitKb' in p))).toBe(true);

    // Moved into a cgroup of 100 MiB after it was first seen: that limit, within one rollup
    // interval.
    await mkdir(join(memory, 'small'));
    await setLimit('small', String(100 * 1024 * 1024));
    const cgroupFile = join(root, String(PYTHON), 'cgroup');
    const moved = (await readFile(cgroupFile, 'utf8')).replace(
      `4:memory:/${leaf}`,
      '4:memory:/small',
    );
    await writeFile(cgroupFile, moved);
    clock.advance(cfg.rollupIntervalMs);
    expect(limits(await c.cycle())).toMatchObject({ [SLEEP]: undefined, [PYTHON]: 100 * 1024 });
  });
});
