import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskSpool, identifySpoolHost, SpoolBusyError, takeoverGuardName } from './spool.ts';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('DiskSpool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps snapshots in order across a restart, one file each, under their ids', async () => {
    const a = await DiskSpool.open(dir, 1 << 20);
    for (let i = 1; i <= 3; i++) await a.put(id(i), Buffer.from(`body ${i}`));
    await a.close();
    const b = await DiskSpool.open(dir, 1 << 20);
    expect(b.count).toBe(3);
    expect(b.totalBytes).toBe(18);
    const first = b.oldest();
    expect(first?.snapshotId).toBe(id(1));
    if (!first) throw new Error('empty');
    expect((await b.read(first)).toString()).toBe('body 1');
    await b.remove(first);
    // Numbering continues after what is on disk, so new entries queue behind the old ones.
    await b.put(id(4), Buffer.from('body 4'));
    await b.close();
    const c = await DiskSpool.open(dir, 1 << 20);
    const order: string[] = [];
    for (let e = c.oldest(); e; e = c.oldest()) {
      order.push(e.snapshotId);
      await c.remove(e);
    }
    expect(order).toEqual([id(2), id(3), id(4)]);
    expect(await readdir(dir)).toEqual(['lock']);
    await c.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('drops the oldest entries when full and counts them', async () => {
    const s = await DiskSpool.open(dir, 100);
    for (let i = 1; i <= 3; i++) await s.put(id(i), Buffer.alloc(30, i));
    expect(s.count).toBe(3);
    expect(s.droppedCount).toBe(0);
    const { dropped } = await s.put(id(5), Buffer.alloc(50, 5));
    expect(dropped.map((d) => d.snapshotId)).toEqual([id(1), id(2)]);
    expect(s.droppedCount).toBe(2);
    expect(s.totalBytes).toBe(80);
    expect(s.oldest()?.snapshotId).toBe(id(3));
    // Larger than the whole spool: it cannot be kept at all.
    const huge = await s.put(id(6), Buffer.alloc(101));
    expect(huge.dropped).toHaveLength(1);
    expect(s.count).toBe(2);
    expect(s.droppedCount).toBe(3);
  });

  it('removes half-written files left by a crash', async () => {
    await writeFile(join(dir, `.tmp-000000000001-${id(1)}.json.gz`), 'partial');
    await writeFile(join(dir, `000000000002-${id(2)}.json.gz`), 'whole');
    const s = await DiskSpool.open(dir, 1 << 20);
    expect(s.count).toBe(1);
    await s.close();
    expect(await readdir(dir)).toEqual([`000000000002-${id(2)}.json.gz`]);
  });

  it('belongs to one live process: a lock left by a gone or reused pid is taken over', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pid = child.pid ?? 0;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      const lock = (o: object) => writeFile(join(dir, 'lock'), `${JSON.stringify(o)}\n`);
      await writeFile(join(dir, `000000000001-${id(1)}.json.gz`), 'x');

      await lock({ pid, bootId, startTicks });
      const busy = await DiskSpool.open(dir, 1 << 20).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(SpoolBusyError);
      expect((busy as Error).message).toBe(
        `spool directory ${dir} is in use by another fleetpmap-agent (pid ${pid}); ` +
          'give each agent its own --spool-dir',
      );
      // The other agent's files are left alone.
      expect(await readdir(dir)).toContain(`000000000001-${id(1)}.json.gz`);

      // The same pid, but another process (started later), or another boot: not a live owner.
      for (const stale of [
        { pid, bootId, startTicks: startTicks + 1 },
        { pid, bootId: '00000000-0000-4000-8000-000000000000', startTicks },
        { pid: 4_194_304, bootId, startTicks },
      ]) {
        await lock(stale);
        const s = await DiskSpool.open(dir, 1 << 20);
        expect(s.count).toBe(1);
        expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
        await s.close();
        expect(await readdir(dir)).not.toContain('lock');
      }

      // An agent that died while taking a stale lock over left its guard: taken over as well.
      const stale = `${JSON.stringify({ pid: 4_194_304, bootId, startTicks })}\n`;
      await writeFile(join(dir, 'lock'), stale);
      const guard = takeoverGuardName('lock', stale);
      await writeFile(
        join(dir, guard),
        `${JSON.stringify({ pid: 4_194_303, bootId, startTicks })}\n`,
      );
      const s = await DiskSpool.open(dir, 1 << 20);
      expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
      expect(await readdir(dir)).not.toContain(guard);
      await s.close();
    } finally {
      child.kill();
    }
  });

  it('takes over a lock whose owner is a zombie (killed, not yet reaped)', async () => {
    // sh's background child exits; sleep, which sh becomes, never reaps it.
    const parent = spawn('sh', ['-c', 'true & exec sleep 30'], { stdio: 'ignore' });
    try {
      const ppid = parent.pid ?? 0;
      let zombie = 0;
      for (let i = 0; i < 100 && zombie === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const kids = readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim();
        const pid = Number(kids.split(' ')[0]);
        if (pid > 0 && / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) zombie = pid;
      }
      expect(zombie).toBeGreaterThan(0);
      const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8');
      const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
      const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      await writeFile(
        join(dir, 'lock'),
        `${JSON.stringify({ pid: zombie, bootId, startTicks, host: hostname(), pidNs: readlinkSync('/proc/self/ns/pid') })}\n`,
      );
      const s = await DiskSpool.open(dir, 1 << 20);
      expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8')).pid).toBe(process.pid);
      await s.close();
    } finally {
      parent.kill();
    }
  });

  it('names its host and pid namespace, and never takes over an older agent’s lock of another', async () => {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNs = readlinkSync('/proc/self/ns/pid');
    const s = await DiskSpool.open(dir, 1 << 20);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
      pidNs,
    });
    await s.close();
    const lockPath = join(dir, 'lock');
    const lock = (o: object) => writeFile(lockPath, `${JSON.stringify(o)}\n`);
    // pid 4194304 is never alive here: judged by pid alone, these would be taken over. They
    // promise no heartbeat (spool-heartbeat.test.ts has the locks that do).
    const dead = { pid: 4_194_304, startTicks: 1 };
    for (const [owner, where] of [
      // A spool on shared storage: another host, another boot.
      [{ ...dead, bootId: 'b', host: 'other-host', pidNs }, 'host other-host'],
      // Another container on this host: its pids are not ours.
      [
        { ...dead, bootId, host: hostname(), pidNs: 'pid:[1]' },
        'pid namespace pid:[1] on this host',
      ],
    ] as const) {
      await lock(owner);
      const busy = await DiskSpool.open(dir, 1 << 20).catch((e: unknown) => e);
      expect(busy).toBeInstanceOf(SpoolBusyError);
      expect((busy as Error).message).toBe(
        `spool directory ${dir} is locked by a fleetpmap-agent of ${where} (pid 4194304 there), ` +
          'an older version that does not refresh its lock, so whether it still runs cannot be ' +
          'told from here: give each agent its own --spool-dir on a local file system; if that ' +
          `agent is gone, remove ${lockPath}`,
      );
      expect(JSON.parse(await readFile(lockPath, 'utf8'))).toEqual(owner);
    }
    // This host's earlier boot: its namespaces are gone with it, and the lock is taken over.
    await lock({ ...dead, bootId: 'b', host: hostname(), pidNs: 'pid:[1]' });
    const again = await DiskSpool.open(dir, 1 << 20);
    expect(JSON.parse(await readFile(lockPath, 'utf8')).pid).toBe(process.pid);
    await again.close();
  });

  it('names the host by its fleet name once known, so that a new pod of the same node takes over', async () => {
    // A pod's system host name is the pod's own; the fleet name is the node's, which the next
    // pod of that node shares. A lock of a pod killed before it could let go is its node's.
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const pidNs = readlinkSync('/proc/self/ns/pid');
    identifySpoolHost('node-7');
    try {
      const lockPath = join(dir, 'lock');
      await writeFile(
        lockPath,
        `${JSON.stringify({ pid: 4_194_304, startTicks: 1, bootId, host: 'node-7', pidNs })}\n`,
      );
      const s = await DiskSpool.open(dir, 1 << 20);
      expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({
        pid: process.pid,
        host: 'node-7',
      });
      await s.close();
    } finally {
      identifySpoolHost(hostname());
    }
  });
});

/**
 * One contender for a spool directory in a process of its own, as agents started at the same
 * instant are. Every file system call of the lock is delayed at random (one in five by 30–60 ms, the rest by up to 2 ms), so that the
 * contenders' steps interleave in as many ways as a loaded host would make them.
 */
const contender = (dir: string, startAt: number) => `
import { createRequire, syncBuiltinESMExports } from 'node:module';
const fsp = createRequire(import.meta.url)('node:fs/promises');
for (const name of ['link', 'unlink', 'rename', 'writeFile', 'open']) {
  const real = fsp[name];
  fsp[name] = async (...args) => {
    // Mostly quick, one call in five slow: a slow step of one beside quick ones of another.
    await new Promise((r) => setTimeout(r, Math.random() < 0.2 ? 30 + Math.random() * 30 : Math.random() * 2));
    return real(...args);
  };
}
syncBuiltinESMExports();
const { DiskSpool } = await import(${JSON.stringify(new URL('./spool.ts', import.meta.url).href)});
while (Date.now() < ${startAt});
try {
  await DiskSpool.open(${JSON.stringify(dir)}, 1 << 20);
  console.log(JSON.stringify({ won: process.pid }));
} catch (err) {
  console.log(JSON.stringify({ pid: process.pid, code: err.code, owner: err.pid }));
}
// Holds what it won until the test is done.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

describe('the spool lock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-spool-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is taken over by exactly one of many agents that find it stale at the same instant', async () => {
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    for (let round = 0; round < 3; round++) {
      const spool = join(dir, String(round));
      await mkdir(spool);
      // Left by an agent that is gone: no process has this pid.
      await writeFile(
        join(spool, 'lock'),
        `${JSON.stringify({ pid: 4_194_304, bootId, startTicks: 1 })}\n`,
      );
      const startAt = Date.now() + 1500;
      const children = Array.from({ length: 8 }, () =>
        spawn(process.execPath, ['--input-type=module', '-e', contender(spool, startAt)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        }),
      );
      try {
        const results = await Promise.all(
          children.map(
            (c) =>
              new Promise<{ won?: number; pid?: number; code?: string; owner?: number }>(
                (resolve, reject) => {
                  let out = '';
                  c.stdout?.on('data', (b: Buffer) => {
                    out += b.toString();
                    if (out.includes('\n')) resolve(JSON.parse(out));
                  });
                  c.on('exit', (code) => reject(new Error(`contender exited (${code}): ${out}`)));
                },
              ),
          ),
        );
        const winners = results.filter((r) => r.won !== undefined).map((r) => r.won);
        expect(winners).toHaveLength(1);
        // Every other one was told who holds it.
        for (const r of results.filter((r) => r.won === undefined)) {
          expect(r).toMatchObject({ code: 'ESPOOLBUSY', owner: winners[0] });
        }
        expect(JSON.parse(await readFile(join(spool, 'lock'), 'utf8')).pid).toBe(winners[0]);
      } finally {
        for (const c of children) c.stdin?.end();
        await Promise.all(
          children.map(
            (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.on('exit', r))),
          ),
        );
      }
    }
  }, 60_000);
});
