import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
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
      const agentAsNobody = await runnableAsNobody();
      const { stdout } = await run(
        '/usr/bin/setpriv',
        [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          '--inh-caps=-all',
          '--bounding-set=-all',
          '--no-new-privs',
          agentAsNobody.node,
          agentAsNobody.entry,
          '--once',
          '--output',
          '-',
          '--full',
        ],
        { maxBuffer: 256 * 1024 * 1024, cwd: '/', env: { PATH: process.env.PATH ?? '' } },
      );
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

  it.skipIf(why !== undefined && process.env.CI !== 'true')(
    'as nobody with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH it reads every process in full',
    async () => {
      const caps = '-all,+sys_ptrace,+dac_read_search';
      const agentAsNobody = await runnableAsNobody();
      const { stdout } = await run(
        '/usr/bin/setpriv',
        [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          `--inh-caps=${caps}`,
          `--ambient-caps=${caps}`,
          `--bounding-set=${caps}`,
          '--no-new-privs',
          agentAsNobody.node,
          agentAsNobody.entry,
          '--once',
          '--output',
          '-',
          '--full',
        ],
        { maxBuffer: 256 * 1024 * 1024, cwd: '/', env: { PATH: process.env.PATH ?? '' } },
      );
      const all = parseLines(stdout).flatMap((p) => p.processes);
      const mine = all.find((p) => p.pid === process.pid);
      expect(mine?.uid).toBe(0);
      expect(mine?.error).toBeUndefined();
      expect(mine?.mappings?.length).toBeGreaterThan(20);
      expect(mine?.exe).toBe(process.execPath);
    },
    180_000,
  );
});
