import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROLLUP_SETTLE_MS } from '@fleetpmap/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetpmapStdout } from '../support/cli.ts';
import { nodeBin, repoRoot } from '../support/paths.ts';
import { oneDriver, useTestServer } from './harness.ts';

const run = promisify(execFile);
const ROLLUP_INTERVAL_MS = 2000;
const simCli = join(repoRoot, 'packages/analysis/sim/cli.ts');

/**
 * Three hosts for eight hours: a plain leak on some of them, a cache that warms up after each of
 * its restarts (every two hours, no leak) and a garbage-collected saw-tooth.
 */
const scenario = {
  name: 'through-the-server',
  seed: 11,
  start: '2026-11-01T00:00:00Z',
  durationHours: 8,
  sampleIntervalSec: 60,
  hosts: { count: 3, prefix: 'sim-' },
  processes: [
    {
      name: 'api',
      exe: '/opt/api/bin/api',
      baseKb: [150000, 250000],
      pattern: [{ type: 'noise', pct: 0.5, corrMinutes: 5 }],
      leak: [{ type: 'linear', pctPerHour: 4 }],
      leakHostShare: 0.6,
    },
    {
      name: 'cache',
      exe: '/usr/bin/cache',
      baseKb: 400000,
      pattern: [
        { type: 'warmup', plateauPct: 60, minutes: 20 },
        { type: 'noise', pct: 0.5, corrMinutes: 5 },
      ],
      restart: { everyHours: 2 },
    },
    {
      name: 'db',
      exe: '/usr/bin/db',
      baseKb: 300000,
      pattern: [{ type: 'sawtooth', amplitudePct: 10, periodMinutes: 2 }],
    },
  ],
};

interface TruthProcess {
  host: string;
  name: string;
  leak: boolean;
  incarnations: { pid: number; startTicks: number; startMs: number }[];
}

interface TopRow {
  host: string;
  pid: number;
  startTicks: number;
  cmdline: string;
  startedAtMs: number | null;
  leak: boolean;
}

// The simulator's history pushed through the real ingest API by its own command line, then read
// back with the real CLI: the server must know each incarnation's start as the simulator meant it,
// and reach the verdicts the ground truth holds.
describe('npm run sim against a real server', () => {
  const t = useTestServer(oneDriver(), {
    env: { FLEETPMAP_ROLLUP_INTERVAL_MS: String(ROLLUP_INTERVAL_MS) },
  });
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-sim-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pushes a scenario whose verdicts, start times and pivot match its ground truth', {
    timeout: 240_000,
  }, async () => {
    const file = join(dir, 'scenario.json');
    await writeFile(file, JSON.stringify(scenario));
    const tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, `${t.adminToken}\n`, { mode: 0o600 });
    const out = join(dir, 'out');
    const sim = await run(nodeBin, [
      simCli,
      file,
      '--server',
      t.url,
      '--token-file',
      tokenFile,
      '--end-now',
      '--out',
      out,
    ]);
    expect(sim.stderr).toMatch(/1440 snapshots .*pushed to .* \(0 duplicates\)/);
    const truth = JSON.parse(await readFile(join(out, 'truth.json'), 'utf8')) as {
      processes: TruthProcess[];
    };
    expect(truth.processes).toHaveLength(9);
    const leaking = truth.processes.filter((p) => p.leak).map((p) => p.host);
    // The seed puts the leak on some hosts but not all, so the pivot has something to tell.
    expect(leaking.length).toBeGreaterThan(0);
    expect(leaking.length).toBeLessThan(3);

    const env = { FLEETPMAP_SERVER: t.url, FLEETPMAP_TOKEN_FILE: tokenFile };
    // Samples are aggregated once they have settled: until then a service can show an older
    // incarnation, the newest one's samples not yet rolled up. Wait out the settling time and a
    // few rollups (every 2 s here) after the last push, then for every process.
    const settledAt = Date.now() + ROLLUP_SETTLE_MS + 5 * ROLLUP_INTERVAL_MS;
    await new Promise((r) => setTimeout(r, settledAt - Date.now()));
    let rows: TopRow[] = [];
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline) {
      rows = JSON.parse(
        await fleetpmapStdout(['top', '--all', '--host', 'sim-*', '--limit', '100', '--json'], {
          env,
        }),
      ) as TopRow[];
      if (rows.length === truth.processes.length) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(rows).toHaveLength(truth.processes.length);

    for (const p of truth.processes) {
      const row = rows.find((r) => r.host === p.host && r.cmdline.endsWith(`--service ${p.name}`));
      const newest = p.incarnations.at(-1);
      expect(row, `${p.host} ${p.name}`).toMatchObject({
        pid: newest?.pid,
        startTicks: newest?.startTicks,
        leak: p.leak,
      });
      // From the host's boot time and the start ticks: to the clock tick.
      expect(Math.abs((row?.startedAtMs ?? 0) - (newest?.startMs ?? 0))).toBeLessThanOrEqual(10);
    }

    const pivot = JSON.parse(
      await fleetpmapStdout(['top', '--group-by', 'exe', '--host', 'sim-*', '--json'], { env }),
    ) as { group: string; hosts: number; leakingHosts: number }[];
    expect(pivot.find((g) => g.group === '/opt/api/bin/api')).toMatchObject({
      hosts: 3,
      leakingHosts: leaking.length,
    });
    expect(pivot.filter((g) => g.leakingHosts > 0).map((g) => g.group)).toEqual([
      '/opt/api/bin/api',
    ]);
  });
});
