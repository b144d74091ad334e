import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixtureProcRoot, peer, tmpfsUnavailable } from './test-support.ts';

const bin = fileURLToPath(new URL('../bin/fleetpmap-agent.js', import.meta.url));

interface Run {
  proc: ChildProcess;
  stderr: () => string;
  /** pino lines of stderr */
  logs: () => { level?: number; msg?: string; [k: string]: unknown }[];
  exited: Promise<number | null>;
}

/** The agent's binary, as a service manager or an operator's shell starts it. */
function start(args: string[], env: Record<string, string> = {}): Run {
  const proc = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
  });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  proc.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    stderr: () => err,
    logs: () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
    exited,
  };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000) {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const spooled = async (dir: string) =>
  (await readdir(dir).catch(() => [] as string[])).filter((n) => /^\d{12}-.+\.json\.gz$/.test(n));

/** A URL where nothing listens: the server is down. */
async function downUrl(): Promise<string> {
  const p = await peer({ hold: false });
  await p.close();
  return p.url;
}

const TOKEN = { FLEETPMAP_TOKEN: 'fpm_test' };

describe('fleetpmap-agent start-up checks', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-agent-main-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    [['--no-such-flag'], /unknown option/],
    [['--output', '-', '--log-level', 'loud'], /invalid/],
    [['--server', 'http://127.0.0.1:9'], /no token: pass --token-file/],
    [['--output', '-', '--label', `${'x'.repeat(64)}=v`], /invalid labels: x+: must be at most 63/],
    [['--output', '-', '--max-body-bytes', '17M'], /invalid maxBodyBytes: must be <= 16777216/],
    [['--once', '--output', '-', '--proc-root', '/nonexistent'], /cannot read \/nonexistent/],
    [['--once', '--output', '/nonexistent/dir/snap.json'], /cannot write \/nonexistent/],
  ])('%j exits with status 2 and says why', async (args, message) => {
    const r = start(args);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(message);
    expect(r.stderr()).not.toMatch(/internal error|\n\s+at /);
  });

  it('refuses more labels than the protocol takes, before sending anything', async () => {
    const labels = Array.from({ length: 65 }, (_, i) => ['--label', `k${i}=v`]).flat();
    const r = start(['--once', '--output', '-', ...labels]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/invalid labels: at most 64 labels, got 65/);
  });

  it('exits 2 for a proc root that is not a proc file system', async () => {
    const r = start(['--once', '--output', '-', '--proc-root', dir]);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(`invalid procRoot: ${dir} is not a proc file system`);
    expect(r.stderr()).not.toMatch(/internal error/);
  });

  it('warns of a token file others can read, and still runs', async () => {
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'fpm_test\n', { mode: 0o644 });
    const args = ['--once', '--output', '-', '--proc-root', fixtureProcRoot, '--token-file'];
    const r = start([...args, tokenFile]);
    expect(await r.exited).toBe(0);
    const warning = r
      .logs()
      .find((l) => /token file .* is open to group or others/.test(l.msg ?? ''));
    expect(warning?.level).toBe(40);
    expect(warning?.msg).toContain('(mode 0644)');
    expect(warning?.msg).toContain(`chmod 600 ${tokenFile}`);
  });

  it('warns of a FLEETPMAP_ variable no fleetpmap program reads, naming the closest, and runs', async () => {
    const r = start(['--once', '--output', '-', '--proc-root', fixtureProcRoot], {
      FLEETPMAP_SPOOL_DIRECTORY: dir,
      // Known to some fleetpmap program, if not to the agent: no warning.
      FLEETPMAP_REPORTS_FILE: join(dir, 'reports.json'),
      FLEETPMAP_TEST_DATABASE_URL: 'postgres://db/test',
    });
    expect(await r.exited).toBe(0);
    const warnings = r.logs().filter((l) => l.level === 40 && 'variable' in l);
    expect(warnings).toEqual([
      expect.objectContaining({
        variable: 'FLEETPMAP_SPOOL_DIRECTORY',
        closest: 'FLEETPMAP_SPOOL_DIR',
        msg: expect.stringMatching(
          /FLEETPMAP_SPOOL_DIRECTORY .* did you mean FLEETPMAP_SPOOL_DIR\?/,
        ),
      }),
    ]);
  });
});

describe('src/main.ts run by itself', () => {
  const mainModule = fileURLToPath(new URL('./main.ts', import.meta.url));

  it('is the agent, as the bin is: --help prints the usage and exits 0', () => {
    const help = execFileSync(process.execPath, [mainModule, '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/^Usage: fleetpmap-agent \[options\]/);
    for (const name of ['FLEETPMAP_HOST_NAME', 'FLEETPMAP_PROC_ROOT', 'FLEETPMAP_LOG_LEVEL']) {
      expect(help).toContain(name);
    }
  });

  it('exits 2 for a bad flag, once', async () => {
    const proc = spawn(process.execPath, [mainModule, '--no-such-flag'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    proc.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [code] = await once(proc, 'exit');
    expect(code).toBe(2);
    expect(err.match(/unknown option/g)).toHaveLength(1);
  });
});

describe('fleetpmap-agent and its spool directory', () => {
  let dir: string;
  const running: Run[] = [];
  const closers: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-agent-main-'));
  });
  afterEach(async () => {
    for (const r of running.splice(0)) {
      r.proc.kill('SIGKILL');
      await r.exited;
    }
    for (const c of closers.splice(0)) await c();
    await rm(dir, { recursive: true, force: true });
  });

  const common = (spool: string, server: string) => [
    '--server',
    server,
    '--proc-root',
    fixtureProcRoot,
    '--spool-dir',
    spool,
    '--cheap-interval',
    '300ms',
  ];

  it('refuses a second agent on the same spool directory; the first keeps its files', async () => {
    const spool = join(dir, 'spool');
    const daemon = start(common(spool, await downUrl()), TOKEN);
    running.push(daemon);
    await until('three spooled snapshots', async () => (await spooled(spool)).length >= 3);

    const server = await peer({ hold: false });
    closers.push(server.close);
    const once = start([...common(spool, server.url), '--once'], TOKEN);
    expect(await once.exited).toBe(2);
    expect(once.stderr()).toContain(
      `spool directory ${spool} is in use by another fleetpmap-agent (pid ${daemon.proc.pid})`,
    );
    expect(server.received).toEqual([]);

    const before = (await spooled(spool)).length;
    await until('another cycle', async () => (await spooled(spool)).length > before);
    daemon.proc.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    const msgs = daemon.logs().map((l) => l.msg);
    expect(msgs).not.toContain('unreadable snapshot');
    expect(existsSync(join(spool, 'lock'))).toBe(false);

    // Once the daemon is gone, a run delivers everything it left.
    const left = (await spooled(spool)).map((n) => n.slice(13, -'.json.gz'.length));
    const again = start([...common(spool, server.url), '--once'], TOKEN);
    expect(await again.exited).toBe(0);
    expect(server.received.slice(0, left.length)).toEqual(left);
    expect(await spooled(spool)).toEqual([]);
  });

  /**
   * The lock an agent of another container on this host left (pid namespace `pid:[1]`), its
   * last heartbeat `ageMs` ago. It promises a heartbeat every second, not every 30: a lock whose
   * last one is long past is taken over once three are watched not to come.
   */
  async function otherContainersLock(spool: string, ageMs: number): Promise<string> {
    await mkdir(spool, { recursive: true });
    const lock = join(spool, 'lock');
    const owner = {
      pid: 4_194_304,
      bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(),
      startTicks: 1,
      nonce: '11111111-1111-4111-8111-111111111111',
      host: hostname(),
      pidNs: 'pid:[1]',
      heartbeatMs: 1_000,
    };
    await writeFile(lock, `${JSON.stringify(owner)}\n`);
    const at = new Date(Date.now() - ageMs);
    await utimes(lock, at, at);
    return lock;
  }

  it('takes over the lock of an agent of another pid namespace whose heartbeat stopped long ago', async () => {
    const spool = join(dir, 'spool');
    await otherContainersLock(spool, 3_600_000);
    const server = await peer({ hold: false });
    closers.push(server.close);
    const once = start([...common(spool, server.url), '--once'], TOKEN);
    running.push(once);
    expect(await once.exited).toBe(0);
    expect(server.received).toHaveLength(1);
    const logs = once.logs();
    const waiting = logs.find((l) =>
      /^spool directory locked by a fleetpmap-agent of another/.test(l.msg ?? ''),
    );
    expect(waiting).toMatchObject({
      level: 40,
      owner: 'pid namespace pid:[1] on this host',
      pid: 4194304,
      waitS: 180,
    });
    expect(logs.map((l) => l.msg)).toContainEqual(
      expect.stringMatching(/^took over the spool lock of a fleetpmap-agent of another/),
    );
    expect(existsSync(join(spool, 'lock'))).toBe(false);
  });

  it('stops at once on SIGTERM while it waits for the lock of another pid namespace', async () => {
    const spool = join(dir, 'spool');
    const lock = await otherContainersLock(spool, 0);
    const text = await readFile(lock, 'utf8');
    const daemon = start(common(spool, await downUrl()), TOKEN);
    running.push(daemon);
    await until('the wait for the lock', () =>
      daemon.logs().some((l) => /^spool directory locked by/.test(l.msg ?? '')),
    );
    const t0 = performance.now();
    daemon.proc.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(daemon.logs().map((l) => l.msg)).toContain(
      'stopped while waiting for the spool directory',
    );
    expect(await readFile(lock, 'utf8')).toBe(text);
    expect(await spooled(spool)).toEqual([]);
  });

  it('stops at once on SIGTERM during a push the server never answers, keeping the snapshot', async () => {
    const spool = join(dir, 'spool');
    const server = await peer({ hold: true });
    closers.push(server.close);
    const daemon = start([...common(spool, server.url), '--cheap-interval', '30s'], TOKEN);
    running.push(daemon);
    await until('the first push', () => server.received.length >= 1);
    const t0 = performance.now();
    daemon.proc.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5000);
    const files = await spooled(spool);
    expect(files.map((n) => n.slice(13, -'.json.gz'.length))).toEqual([server.received[0]]);
    expect(daemon.logs().map((l) => l.msg)).toContain(
      'push stopped by shutdown; the snapshot stays in the spool',
    );
  });
});

const why = tmpfsUnavailable();
if (why && process.env.CI !== 'true') console.warn(`skipping the read-only spool test: ${why}`);

describe('fleetpmap-agent with a read-only spool directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-agent-ro-'));
  });
  afterEach(async () => {
    if (existsSync(join(dir, 'ro'))) execFileSync('umount', ['-l', join(dir, 'ro')]);
    await rm(dir, { recursive: true, force: true });
  });

  /** The agent daemon, its server down, on a spool directory that is a read-only tmpfs. */
  async function againstReadOnlySpool(size: string) {
    const ro = join(dir, 'ro');
    await mkdir(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},ro`, 'tmpfs', ro]);
    const args = ['--server', await downUrl(), '--proc-root', fixtureProcRoot];
    const daemon = start([...args, '--spool-dir', ro, '--cheap-interval', '200ms'], TOKEN);
    return { ro, daemon };
  }

  it.skipIf(why !== undefined && process.env.CI !== 'true')(
    'keeps running with the queue in memory while the server is down, and says so',
    async () => {
      const { ro, daemon } = await againstReadOnlySpool('64k');
      await until('four cycles', () => daemon.logs().filter((l) => l.msg === 'cycle').length >= 4);
      daemon.proc.kill('SIGTERM');
      expect(await daemon.exited).toBe(0);
      const logs = daemon.logs();
      const warning = logs.find((l) => /^spool directory unusable/.test(l.msg ?? ''));
      expect(warning).toMatchObject({ dir: ro, level: 40 });
      expect(String(warning?.err)).toMatch(/EROFS/);
      expect(logs.map((l) => l.msg)).not.toContain('cycle failed');
      // What the cycles made waits in memory: the cost reports it.
      const last = logs.filter((l) => l.msg === 'cycle').at(-1);
      expect(last?.spooled).toBeGreaterThanOrEqual(3);
      expect(await readFile(join(ro, 'lock')).catch(() => 'none')).toBe('none');
    },
  );

  it.skipIf(why !== undefined && process.env.CI !== 'true')(
    'takes the directory up once it can be written, with what waited in memory, in order',
    async () => {
      const { ro, daemon } = await againstReadOnlySpool('256k');
      try {
        await until(
          'three cycles',
          () => daemon.logs().filter((l) => l.msg === 'cycle').length >= 3,
        );
        execFileSync('mount', ['-o', 'remount,rw', ro]);
        await until('the spool taken up', () =>
          daemon.logs().some((l) => l.msg === 'spool directory usable again; replaying it'),
        );
        await until('two more cycles', async () => {
          const made = daemon.logs().filter((l) => l.msg === 'cycle');
          return made.length >= 5 && (await spooled(ro)).length >= made.length;
        });
        daemon.proc.kill('SIGTERM');
        expect(await daemon.exited).toBe(0);
        // Every cycle's snapshot is on disk, in the order the cycles made them.
        const made = daemon
          .logs()
          .filter((l) => l.msg === 'cycle')
          .flatMap((l) => l.snapshotIds as string[]);
        expect((await spooled(ro)).sort().map((n) => n.slice(13, -'.json.gz'.length))).toEqual(
          made,
        );
        expect(daemon.logs().map((l) => l.msg)).not.toContain(
          'snapshots that could not be written to the spool are lost',
        );
        expect(existsSync(join(ro, 'lock'))).toBe(false);
      } finally {
        daemon.proc.kill('SIGKILL');
      }
    },
  );
});
