import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseSnapshot, processStartMs, type Snapshot } from '@fleetpmap/protocol';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fleetpmap-agent.js', import.meta.url));

/**
 * Node and the agent as the unprivileged user can run them. When the checkout is not readable by
 * `nobody` (a CI workspace under /root), the agent is bundled and Node copied to a world-readable
 * temporary directory.
 */
let asNobody: Promise<{ node: string; entry: string }> | undefined;
const copies: string[] = [];
afterAll(() => {
  for (const dir of copies) rmSync(dir, { recursive: true, force: true });
});

function runnableAsNobody(): Promise<{ node: string; entry: string }> {
  asNobody ??= prepareForNobody();
  return asNobody;
}

/** One `--once --full` cycle of the agent to stdout, run by setpriv with `privileges`. */
async function fullCycleUnder(privileges: string[]): Promise<{ stdout: string; stderr: string }> {
  const agent = await runnableAsNobody();
  return run(
    '/usr/bin/setpriv',
    [...privileges, '--no-new-privs', agent.node, agent.entry, '--once', '--output', '-', '--full'],
    { maxBuffer: 256 * 1024 * 1024, cwd: '/', env: { PATH: process.env.PATH ?? '' } },
  );
}

async function prepareForNobody(): Promise<{ node: string; entry: string }> {
  try {
    await run('/usr/bin/setpriv', [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      '/usr/bin/test',
      '-x',
      process.execPath,
      '-a',
      '-r',
      bin,
    ]);
    return { node: process.execPath, entry: bin };
  } catch {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-agent-nobody-'));
    copies.push(dir);
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'dist'), { mode: 0o755 });
    const { build } = await import('esbuild');
    await build({
      entryPoints: [bin],
      outfile: join(dir, 'dist', 'agent.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
      logLevel: 'error',
    });
    copyFileSync(
      fileURLToPath(new URL('../package.json', import.meta.url)),
      join(dir, 'package.json'),
    );
    copyFileSync(process.execPath, join(dir, 'node'));
    chmodSync(join(dir, 'node'), 0o755);
    return { node: join(dir, 'node'), entry: join(dir, 'dist', 'agent.mjs') };
  }
}

function parseLines(stdout: string): Snapshot[] {
  return stdout
    .trim()
    .split('\n')
    .map((line) => {
      const r = parseSnapshot(JSON.parse(line));
      if (!r.ok) throw new Error(`invalid snapshot at ${r.path}: ${r.message}`);
      return r.snapshot;
    });
}

describe('fleetpmap-agent --once --output - against the real /proc', () => {
  it('prints a valid snapshot holding this very process with plausible values', async () => {
    const rssBeforeKb = process.memoryUsage.rss() / 1024;
    const { stdout, stderr } = await run(
      process.execPath,
      [
        bin,
        '--once',
        '--output',
        '-',
        '--full',
        '--stats',
        '--host-name',
        'test-host',
        '--label',
        'env=test',
      ],
      { maxBuffer: 256 * 1024 * 1024 },
    );
    const parts = parseLines(stdout);
    expect(parts.length).toBeGreaterThanOrEqual(1);
    const snap = parts[0] as Snapshot;
    expect(snap.host.name).toBe('test-host');
    expect(snap.host.labels).toEqual({ env: 'test' });
    expect(snap.host.memTotalKb).toBeGreaterThan(100_000);
    expect(snap.host.clockTicksPerSec).toBe(100);
    expect(snap.host.pageSizeKb).toBe(4);
    const all = parts.flatMap((p) => p.processes);
    const me = all.find((p) => p.pid === process.pid);
    expect(me, 'this test process is in the snapshot').toBeDefined();
    if (!me) return;
    expect(me.ppid).toBe(process.ppid);
    expect(me.uid).toBe(process.getuid?.());
    expect(me.cmdline).toContain('node');
    // The agent read this process while it waited for the child: between its size then and now.
    const rssAfterKb = process.memoryUsage.rss() / 1024;
    expect(me.status.vmRssKb).toBeGreaterThan(rssBeforeKb / 2);
    expect(me.status.vmRssKb).toBeLessThan(rssAfterKb * 2);
    expect(me.status.rssAnonKb).toBeGreaterThan(1024);
    expect(me.threads).toBeGreaterThanOrEqual(1);
    // The host's boot time and this process's start ticks give the time Node says it started.
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'))?.[1];
    expect(snap.host.bootTimeMs).toBe(Number(btime) * 1000);
    const startedAtMs = processStartMs(snap.host, me.startTicks);
    expect(startedAtMs).not.toBeNull();
    // btime is whole seconds, and Node starts its uptime clock a little after the exec.
    const nodeStartMs = Date.now() - process.uptime() * 1000;
    expect(Math.abs((startedAtMs ?? 0) - nodeStartMs)).toBeLessThan(1500);
    // --full: the whole map was read, and its totals agree with the kernel's own summary.
    expect(me.mappings?.length).toBeGreaterThan(20);
    expect(me.regions?.heap.count ?? 0).toBeGreaterThanOrEqual(0);
    const mapRss = Object.values(me.regions ?? {}).reduce((a, r) => a + r.rssKb, 0);
    const mappingRss = (me.mappings ?? []).reduce((a, m) => a + (m.kb.Rss ?? 0), 0);
    expect(mapRss).toBe(mappingRss);
    expect(me.rollup?.rssKb).toBeGreaterThan(rssBeforeKb / 2);
    expect(stderr).toMatch(/fleetpmap-agent stats \{"processes":\d+/);
  }, 180_000);

  const root = process.getuid?.() === 0;
  const why = !root
    ? 'needs root to drop to nobody'
    : !existsSync('/usr/bin/setpriv')
      ? 'needs setpriv (util-linux)'
      : undefined;
  if (why && process.env.CI !== 'true') {
    console.warn(`skipping the unprivileged run: ${why}`);
  }
  it.skipIf(why !== undefined && process.env.CI !== 'true')(
    'as nobody without capabilities it reports what it could not read instead of failing',
    async () => {
      const { stdout, stderr } = await fullCycleUnder([
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        '--inh-caps=-all',
        '--bounding-set=-all',
      ]);
      // Said once at start, not only process by process in the records.
      expect(stderr.match(/runs without CAP_SYS_PTRACE/g)).toHaveLength(1);
      const all = parseLines(stdout).flatMap((p) => p.processes);
      // Root's processes: counters from stat/status are world-readable, their maps are not.
      const mine = all.find((p) => p.pid === process.pid);
      expect(mine?.status.vmRssKb).toBeGreaterThan(0);
      expect(mine?.error?.code).toBe('EACCES');
      expect(mine?.mappings).toBeUndefined();
      // Kernel threads have no exe: the EACCES their link gives the unprivileged is not theirs.
      if (readFileSync('/proc/2/stat', 'latin1').startsWith('2 (kthreadd)')) {
        const kernel = all.filter((p) => p.pid === 2 || p.ppid === 2);
        expect(kernel.length).toBeGreaterThan(0);
        expect(kernel.filter((p) => p.error !== undefined)).toEqual([]);
      }
      // Its own process (uid nobody) it reads in full.
      const nobody = all.filter((p) => p.uid === 65534 && p.status.vmSizeKb > 0);
      expect(nobody.length).toBeGreaterThanOrEqual(1);
      expect(nobody.some((p) => p.mappings !== undefined && p.error === undefined)).toBe(true);
    },
    180_000,
  );

  // The deployments grant CAP_SYS_PTRACE and nothing else: the systemd unit to a dynamic user
  // (like nobody here), the containers to uid 0. The target is the hardest case for the agent: a
  // process of a third user that is not dumpable (it changed its uid without an exec), so that
  // its /proc files belong to root and only the ptrace-read check can let the agent in.
  it.skipIf(why !== undefined && process.env.CI !== 'true').each([
    ['nobody', ['--reuid=nobody', '--regid=nogroup', '--clear-groups']],
    ['uid 0', []],
  ])(
    'as %s with CAP_SYS_PTRACE alone it reads every process in full, a non-dumpable one of another user too',
    async (_, user) => {
      const target = await startNonDumpable(1, 1);
      try {
        const caps = '-all,+sys_ptrace';
        const { stdout, stderr } = await fullCycleUnder([
          ...user,
          `--inh-caps=${caps}`,
          `--ambient-caps=${caps}`,
          `--bounding-set=${caps}`,
        ]);
        expect(stderr).not.toMatch(/CAP_SYS_PTRACE/);
        const all = parseLines(stdout).flatMap((p) => p.processes);
        // Some sandboxes refuse even full root some of their init's links: those are not the
        // agent's to read.
        const refused = all.filter((p) => p.error?.code === 'EACCES' && rootReads(p.pid));
        expect(refused).toEqual([]);
        const mine = all.find((p) => p.pid === process.pid);
        expect(mine?.uid).toBe(0);
        expect(mine?.error).toBeUndefined();
        expect(mine?.mappings?.length).toBeGreaterThan(20);
        expect(mine?.exe).toBe(process.execPath);
        const other = all.find((p) => p.pid === target.pid);
        expect(other?.uid).toBe(1);
        expect(other?.error).toBeUndefined();
        expect(other?.status.vmRssKb).toBeGreaterThan(0);
        expect(other?.rollup?.rssKb).toBeGreaterThan(0);
        expect(other?.mappings?.length).toBeGreaterThan(20);
        expect(other?.exe).toBe(process.execPath);
      } finally {
        target.kill();
      }
    },
    180_000,
  );
});

/**
 * A Node process that drops to `uid`/`gid` in place, without an exec: the kernel then marks it
 * not dumpable, and its /proc/PID files belong to root instead of `uid`. Resolves once the drop
 * has happened and the kernel shows it so.
 */
async function startNonDumpable(uid: number, gid: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `process.setgroups([]); process.setgid(${gid}); process.setuid(${uid});
       globalThis.keep = Buffer.alloc(8 << 20, 1);
       process.stdout.write('dropped\\n'); setInterval(() => {}, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the non-dumpable process exited: ${code}`)));
    child.stdout?.once('data', () => resolve());
  });
  const pid = child.pid ?? 0;
  const realUid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1]);
  if (realUid !== uid || statSync(`/proc/${pid}/smaps`).uid !== 0) {
    child.kill();
    throw new Error(`process ${pid} is not a non-dumpable process of uid ${uid}`);
  }
  return child;
}

/** Whether this process (root with every capability) can read the pid's exe link and rollup. */
function rootReads(pid: number): boolean {
  try {
    readlinkSync(`/proc/${pid}/exe`);
    readFileSync(`/proc/${pid}/smaps_rollup`);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
