import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseSmaps } from '@fleetpmap/procfs';
import { exampleSnapshot, type Mapping } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drivers, startTestServer, type TestServer } from '../server/harness.ts';
import { cliBin } from '../support/paths.ts';

const run = promisify(execFile);
const PMAP = '/usr/bin/pmap';
const GCC = '/usr/bin/gcc';
const hasPmap = existsSync(PMAP) && existsSync(GCC);
if (!hasPmap) {
  if (process.env.CI) throw new Error(`CI must provide ${PMAP} (procps 4.0.2) and ${GCC}`);
  console.warn(`${PMAP} or ${GCC} is missing: the --at comparison with pmap is skipped`);
}

async function capture(file: string, args: string[]) {
  try {
    const r = await run(file, args, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, LC_ALL: 'C', NO_COLOR: '1' },
      encoding: 'buffer',
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout.toString('latin1'), stderr: r.stderr.toString() };
  } catch (error) {
    const e = error as { code?: number; stdout?: Buffer; stderr?: Buffer };
    return {
      code: e.code ?? -1,
      stdout: e.stdout?.toString('latin1') ?? '',
      stderr: e.stderr?.toString() ?? '',
    };
  }
}

/** The agent's wire form of an smaps text (see the protocol's Mapping). */
function wireMappings(text: string): Mapping[] {
  return parseSmaps(text, 'smaps').map((e) => ({
    start: e.start,
    end: e.end,
    perms: e.perms,
    offset: e.offset,
    dev: e.dev,
    inode: Number(e.inode),
    path: Buffer.from(e.path, 'latin1').toString('utf8'),
    kb: e.kb,
    vmFlags: e.vmFlags ?? [],
    extra: e.extra,
  }));
}

// A process whose map does not change while it waits: what pmap prints for it now is what the
// stored map must render to.
describe.skipIf(!hasPmap)('fleetpmap HOST:PID --at TIME renders the stored map like pmap', () => {
  let t: TestServer;
  let child: ChildProcess;
  let pid: number;
  let reader: string;
  let pushes = 0;
  let dir: string | undefined;

  /**
   * PSS of shared files changes whenever another process maps them (pmap itself maps libc), so
   * the map is read by `cat` right before and right after pmap runs, with the same environment;
   * when both reads agree, pmap saw that map too. That map is then stored.
   */
  async function pmapAndStore(flags: string[]): Promise<{ live: string; atMs: number }> {
    for (let attempt = 0; ; attempt++) {
      const before = await capture('/usr/bin/cat', [`/proc/${pid}/smaps`]);
      const live = await capture(PMAP, [...flags, String(pid)]);
      const after = await capture('/usr/bin/cat', [`/proc/${pid}/smaps`]);
      expect(live.code, live.stderr).toBe(0);
      if (before.stdout !== after.stdout && attempt < 20) continue;
      expect(before.stdout).toBe(after.stdout);
      const base = exampleSnapshot();
      const atMs = Date.now() - 60_000 + pushes++;
      await t.client(t.adminToken).snapshot.push.mutate({
        ...base,
        snapshotId: crypto.randomUUID(),
        takenAtMs: atMs,
        host: { ...base.host, name: 'live-1' },
        processes: [
          {
            ...(base.processes[0] as (typeof base.processes)[number]),
            pid,
            startTicks: 1,
            comm: 'idle',
            cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trimEnd(),
            exe: join(dir as string, 'idle'),
            mappings: wireMappings(before.stdout),
          },
        ],
      });
      return { live: live.stdout, atMs };
    }
  }

  beforeAll(async () => {
    // A static binary shares no file with other processes, so its PSS cannot move while pmap
    // and the stored copy are compared (a shared libc's PSS changes with every process started).
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-at-'));
    await writeFile(
      join(dir, 'idle.c'),
      '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n',
    );
    await run(GCC, ['-static', '-O2', '-o', join(dir, 'idle'), join(dir, 'idle.c')]);
    child = spawn(join(dir, 'idle'), ['--wait', 'for ever'], { stdio: 'ignore' });
    pid = child.pid as number;
    await new Promise((r) => setTimeout(r, 200));
    t = await startTestServer(drivers().at(-1) ?? { name: 'pglite' });
    const admin = t.client(t.adminToken);
    reader = (await admin.token.create.mutate({ role: 'reader' })).token;
  }, 300_000);
  afterAll(async () => {
    child?.kill();
    if (dir) await rm(dir, { recursive: true, force: true });
    await t?.[Symbol.asyncDispose]();
  });

  for (const flags of [[], ['-x'], ['-X'], ['-XX'], ['-d'], ['-q', '-X'], ['-p', '-x']]) {
    it(`pmap ${flags.join(' ') || '(default)'}`, async () => {
      // A process starting or ending while pmap runs can still move a shared file's PSS by a
      // KiB; such a round is repeated. A rendering difference fails every round.
      for (let round = 1; ; round++) {
        const { live, atMs } = await pmapAndStore(flags);
        const stored = await capture(process.execPath, [
          cliBin,
          `live-1:${pid}`,
          '--at',
          new Date(atMs).toISOString(),
          ...flags,
          '--server',
          t.url,
          '--token',
          reader,
        ]);
        expect(stored.code, stored.stderr).toBe(0);
        expect(stored.stderr).toMatch(new RegExp(`live-1:${pid} as stored at \\S+Z`));
        if (stored.stdout !== live && round < 3) continue;
        expect(stored.stdout).toBe(live);
        break;
      }
    });
  }

  it('--json prints the stored map; an unknown pid is an error', async () => {
    await pmapAndStore([]);
    const r = await capture(process.execPath, [
      cliBin,
      `live-1:${pid}`,
      '--at=2026-01-01T00:00:00Z',
      '--json',
      '--server',
      t.url,
      '--token',
      reader,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [m] = JSON.parse(r.stdout) as { pid: number; cmdline: string; mappings: unknown[] }[];
    expect(m?.pid).toBe(pid);
    expect(m?.cmdline).toBe(`${join(dir as string, 'idle')} --wait for ever`);
    expect(m?.mappings.length).toBeGreaterThan(5);
    const missing = await capture(process.execPath, [
      cliBin,
      'live-1:1',
      '--at',
      '1h',
      '--server',
      t.url,
      '--token',
      reader,
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/404.*no full map of live-1:1/);
  });
});
