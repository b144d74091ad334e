import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { readCgroup, readMemoryLimitKb } from '@fleetpmap/procfs';
import type { Snapshot } from '@fleetpmap/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../support/until.ts';
import { agentToken, cli, startAgent, startServer } from './processes.ts';

type Server = Awaited<ReturnType<typeof startServer>>;
type AgentProc = ReturnType<typeof startAgent>;

/** Snapshot ids the server stored, read from its PGlite files after it stopped. */
async function storedIds(dataDir: string): Promise<string[]> {
  const db = new PGlite(join(dataDir, 'pglite'));
  try {
    const r = await db.query<{ id: string }>('select snapshot_id::text as id from sample_blocks');
    return r.rows.map((row) => row.id);
  } finally {
    await db.close();
  }
}

/** Ids of the snapshots waiting in a spool directory (file names carry them). */
async function spooledIds(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.flatMap((n) => /^\d{12}-(.+)\.json\.gz$/.exec(n)?.[1] ?? []);
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

describe('agent → server → database, with the real binaries', () => {
  let work: string;
  let dataDir: string;
  let spool: string;
  let tokenFile: string;
  const servers: Server[] = [];
  const agents: AgentProc[] = [];

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'fleetpmap-e2e-agent-'));
    dataDir = join(work, 'server');
    spool = join(work, 'spool');
    tokenFile = join(work, 'agent-token');
  });
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    for (const s of servers.splice(0)) await s.stop('SIGKILL');
    await rm(work, { recursive: true, force: true });
  });

  async function server(port = 0): Promise<Server> {
    const s = await startServer(dataDir, port);
    servers.push(s);
    return s;
  }
  async function stopServer(s: Server, signal: NodeJS.Signals) {
    await s.stop(signal);
    servers.splice(servers.indexOf(s), 1);
  }

  function agent(url: string, host: string, extra: string[] = []): AgentProc {
    const a = startAgent([
      '--server',
      url,
      '--token-file',
      tokenFile,
      '--host-name',
      host,
      '--label',
      'env=e2e',
      '--cheap-interval',
      '1s',
      '--rollup-interval',
      '1h',
      '--full-interval',
      '1h',
      '--spool-dir',
      spool,
      // The server is down for a while in the fault tests; however long its restart takes on a
      // loaded machine, the agent tries again within two seconds of it coming back.
      '--retry-max-delay',
      '2s',
      ...extra,
    ]);
    agents.push(a);
    return a;
  }

  /** An agent for `host` with a fresh agent token for it in the token file. */
  async function enrolledAgent(s: Server, host: string, extra: string[] = []): Promise<AgentProc> {
    await writeFile(tokenFile, await agentToken(s.url, await s.adminToken(), host));
    return agent(s.url, host, extra);
  }

  it('pushes several cycles from the real /proc and the host shows up in `fleetpmap hosts`', async () => {
    const s = await server();
    const a = await enrolledAgent(s, 'e2e-pipeline');
    await until('three acknowledged snapshots', () => a.acknowledged().length >= 3);
    const hosts = JSON.parse(
      await cli(['hosts', '--server', s.url, '--token', await s.adminToken(), '--json']),
    ) as {
      name: string;
      labels: Record<string, string>;
      agentVersion: string;
      processCount: number;
    }[];
    const h = hosts.find((x) => x.name === 'e2e-pipeline');
    expect(h?.labels).toEqual({ env: 'e2e' });
    expect(h?.agentVersion).toBe('0.1.0');
    // This test, the server and the agent alone are more than ten processes.
    expect(h?.processCount).toBeGreaterThan(10);
    expect(a.logs.some((l) => l.level !== undefined && Number(l.level) >= 50)).toBe(false);
  });

  it("reports a process's uptime from its real start, not from when the server first saw it", async () => {
    // The child is older than anything the server could see of it: it starts before the server.
    const spawnedAtMs = Date.now();
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const pid = child.pid as number;
      const s = await server();
      const a = await enrolledAgent(s, 'e2e-uptime');
      await until('two acknowledged snapshots', () => a.acknowledged().length >= 2);
      // Stopped, so that every query below reads the same newest snapshot.
      await a.stop();
      const as = ['--server', s.url, '--token', await s.adminToken()];
      const rows = JSON.parse(
        await cli(['ps', '--host', 'e2e-uptime', '--limit', '100000', '--json', ...as]),
      ) as {
        pid: number;
        takenAtMs: number;
        firstSeenMs: number;
        startedAtMs: number | null;
        pssKb: number | null;
        rollupAtMs: number | null;
      }[];
      const row = rows.find((r) => r.pid === pid);
      expect(row, 'the child is listed').toBeDefined();
      if (!row) return;
      const realUptimeMs = row.takenAtMs - spawnedAtMs;
      const shownUptimeMs = row.takenAtMs - (row.startedAtMs ?? Number.NaN);
      // btime is whole seconds, so the start may read up to a second early; the spawn call itself
      // takes a few milliseconds.
      expect(Math.abs(shownUptimeMs - realUptimeMs)).toBeLessThan(1500);
      // The time since first seen would have missed the server's and the agent's start-up.
      expect(row.firstSeenMs - spawnedAtMs).toBeGreaterThan(1500);
      // A known start: the table's UPTIME carries no `>`.
      const table = await cli(['ps', '--host', 'e2e-uptime', '--limit', '100000', ...as]);
      expect(table).toMatch(new RegExp(`^e2e-uptime\\s+${pid}\\s+sleep 600\\s+\\d\\S*\\s`, 'm'));
      // A new process's smaps_rollup is read when it is first seen, and with a rollup interval of
      // an hour not again: the newest snapshot's PSS is the first cycle's, and says so.
      expect(row.pssKb).not.toBeNull();
      expect(row.rollupAtMs).toBeLessThan(row.takenAtMs);
      expect(table).toMatch(
        new RegExp(
          `^e2e-uptime\\s+${pid}\\s+sleep 600\\s+\\S+\\s+\\S+\\s+\\S+\\*\\s+\\S+\\*\\s`,
          'm',
        ),
      );
      expect(table).toMatch(/^\* read up to \d+s before RSS, ANON and SWAP: /m);
      const csv = await cli(['ps', '--host', 'e2e-uptime', '--limit', '100000', '--csv', ...as]);
      const line = csv.split('\r\n').find((l) => l.startsWith(`e2e-uptime,${pid},`));
      expect(line?.split(',').slice(3, 5)).toEqual([
        String(shownUptimeMs),
        String(row.startedAtMs),
      ]);
      expect(line?.split(',').at(-2)).toBe(String(row.rollupAtMs));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("sends a process's cgroup memory limit as the procfs reader finds it in the real /sys", async () => {
    const child = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const pid = child.pid as number;
      // What this machine's cgroup files say: a limit in KiB, none, or not visible from here.
      const expected = readMemoryLimitKb(await readCgroup(pid));
      const out = join(work, 'snapshot.ndjson');
      const once = startAgent(['--once', '--output', out, '--host-name', 'e2e-limit']);
      await once.exited();
      const snapshot = JSON.parse((await readFile(out, 'utf8')).trim()) as Snapshot;
      const sent = snapshot.processes.find((p) => p.pid === pid);
      expect(sent, 'the child is in the snapshot').toBeDefined();
      if (typeof expected === 'number') expect(sent?.memoryLimitKb).toBe(expected);
      else expect(sent && 'memoryLimitKb' in sent, `no limit known (${expected})`).toBe(false);

      // Through the server: time to limit runs to MemTotal, or to the cgroup limit when lower.
      const s = await server();
      const a = await enrolledAgent(s, 'e2e-limit');
      await until('two acknowledged snapshots', () => a.acknowledged().length >= 2);
      await a.stop();
      const as = ['--server', s.url, '--token', await s.adminToken()];
      const rows = JSON.parse(
        await cli(['ps', '--host', 'e2e-limit', '--limit', '100000', '--json', ...as]),
      ) as { pid: number; limitKb: number | null }[];
      const memTotalKb = snapshot.host.memTotalKb;
      expect(rows.find((r) => r.pid === pid)?.limitKb).toBe(
        typeof expected === 'number' ? Math.min(expected, memTotalKb) : memTotalKb,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('spools while the server is stopped and replays everything once it is back', async () => {
    let s = await server();
    const port = s.port;
    const a = await enrolledAgent(s, 'e2e-outage');
    await until('two acknowledged snapshots', () => a.acknowledged().length >= 2);
    await stopServer(s, 'SIGTERM');
    const before = a.produced().length;
    await until('three cycles during the outage', () => a.produced().length >= before + 3);
    expect((await spooledIds(spool)).length).toBeGreaterThanOrEqual(2);

    s = await server(port);
    const madeDuringOutage = a.produced();
    await until(
      'the spool to be replayed',
      () => {
        const acked = new Set(a.acknowledged());
        return madeDuringOutage.every((id) => acked.has(id));
      },
      120_000,
    );
    await a.stop();
    // Whatever the stopped agent still held is on disk; a second run delivers it with its own.
    const leftover = await spooledIds(spool);
    const again = agent(s.url, 'e2e-outage', ['--once']);
    await again.exited();
    expect(again.proc.exitCode).toBe(0);
    expect(await spooledIds(spool)).toEqual([]);

    const produced = sorted([...a.produced(), ...again.produced()]);
    const acknowledged = sorted([...a.acknowledged(), ...again.acknowledged()]);
    expect(acknowledged).toEqual(produced);
    expect(sorted(again.acknowledged())).toEqual(sorted([...leftover, ...again.produced()]));
    await stopServer(s, 'SIGTERM');
    const stored = await storedIds(dataDir);
    expect(stored.length).toBe(new Set(stored).size);
    expect(sorted(stored)).toEqual(produced);
  }, 240_000);

  it('enrolls with the fleet enroll token once, even while the server is down, and never takes over an enrolled host', async () => {
    let s = await server();
    const port = s.port;
    const admin = ['--server', s.url, '--token', await s.adminToken()];
    const created = JSON.parse(
      await cli([
        'token',
        'create',
        '--role',
        'enroll',
        '--host',
        'e2e-enroll-*',
        '--expires',
        '1h',
        '--json',
        ...admin,
      ]),
    ) as { id: string; token: string; hostPattern: string; expiresAtMs: number };
    expect(created.hostPattern).toBe('e2e-enroll-*');
    expect(created.expiresAtMs - Date.now()).toBeGreaterThan(3_500_000);
    const enrollFile = join(work, 'enroll-token');
    await writeFile(enrollFile, `${created.token}\n`, { mode: 0o600 });
    const enrolling = ['--enroll-token-file', enrollFile, '--retry-max-delay', '1s'];

    // The agent starts while the server is down: it collects, and enrolls once the server is back.
    await stopServer(s, 'SIGTERM');
    const a = agent(`http://127.0.0.1:${port}`, 'e2e-enroll-1', enrolling);
    await until(
      'two enrollment attempts',
      () => a.logs.filter((l) => l.msg === 'enrollment failed; retrying').length >= 2,
    );
    await until('two cycles before enrollment', () => a.produced().length >= 2);
    await expect(readFile(tokenFile, 'utf8')).rejects.toThrow(/ENOENT/);
    // Waiting on disk, in the capped spool, not in the agent's memory.
    expect((await spooledIds(spool)).length).toBeGreaterThanOrEqual(2);
    s = await server(port);
    const madeBefore = a.produced();
    await until(
      'the snapshots made before enrollment to be delivered',
      () => {
        const acked = new Set(a.acknowledged());
        return madeBefore.every((id) => acked.has(id));
      },
      120_000,
    );
    const saved = (await readFile(tokenFile, 'utf8')).trim();
    expect(saved).toMatch(/^fpm_[A-Za-z0-9_-]{43}$/);
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    await a.stop();

    // A restart reuses the saved token: still one agent token for the host.
    const restarted = agent(s.url, 'e2e-enroll-1', enrolling);
    await until('a snapshot after the restart', () => restarted.acknowledged().length >= 1);
    await restarted.stop();
    expect(restarted.logs.some((l) => l.msg === 'enrolled this host')).toBe(false);
    const agentTokens = () =>
      cli(['token', 'list', '--json', ...admin]).then((out) =>
        (
          JSON.parse(out) as { role: string; hostName: string | null; revokedAtMs: number | null }[]
        ).filter((t) => t.role === 'agent' && t.revokedAtMs === null),
      );
    expect((await agentTokens()).map((t) => t.hostName)).toEqual(['e2e-enroll-1']);

    // Another machine with the same enroll token cannot claim that host, nor one outside the glob.
    const otherToken = join(work, 'other-agent-token');
    for (const host of ['e2e-enroll-1', 'db-1']) {
      const intruder = startAgent([
        '--server',
        s.url,
        '--host-name',
        host,
        '--token-file',
        otherToken,
        '--enroll-token-file',
        enrollFile,
        '--spool-dir',
        join(work, 'other-spool'),
        '--cheap-interval',
        '1s',
      ]);
      agents.push(intruder);
      await intruder.exited();
      expect(intruder.proc.exitCode).toBe(1);
      const refusal = intruder.logs.find(
        (l) => l.msg === 'enrollment refused; the agent cannot push',
      );
      expect(refusal?.status).toBe(host === 'db-1' ? 403 : 409);
      expect(intruder.acknowledged()).toEqual([]);
    }
    await expect(readFile(otherToken, 'utf8')).rejects.toThrow(/ENOENT/);
    expect((await agentTokens()).map((t) => t.hostName)).toEqual(['e2e-enroll-1']);
  }, 240_000);

  it('loses no acknowledged snapshot when the server is killed during ingest', async () => {
    let s = await server();
    const port = s.port;
    // Full maps every few seconds make pushes large, so the kill lands inside an ingest.
    const a = await enrolledAgent(s, 'e2e-kill', [
      '--full-interval',
      '3s',
      '--rollup-interval',
      '2s',
    ]);
    await until('two acknowledged snapshots', () => a.acknowledged().length >= 2, 120_000);
    await until('a snapshot in flight', () => {
      const acked = new Set(a.acknowledged());
      return a.produced().some((id) => !acked.has(id));
    });
    await stopServer(s, 'SIGKILL');
    const ackedBeforeKill = a.acknowledged();

    s = await server(port);
    await until(
      'deliveries after the restart',
      () => a.acknowledged().length >= ackedBeforeKill.length + 3,
      120_000,
    );
    await a.stop();
    const acknowledged = a.acknowledged();
    await stopServer(s, 'SIGTERM');
    const stored = new Set(await storedIds(dataDir));
    expect(ackedBeforeKill.filter((id) => !stored.has(id))).toEqual([]);
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    // Nothing stored that the agent did not make.
    const produced = new Set(a.produced());
    expect([...stored].filter((id) => !produced.has(id))).toEqual([]);
  }, 300_000);
});
