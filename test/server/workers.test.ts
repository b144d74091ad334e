import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import { createClient, postgresAdminUrl, rawRequest, useServerProcesses } from './harness.ts';

const adminUrl = postgresAdminUrl('the --workers test');

async function childPids(pid: number): Promise<number[]> {
  const { stdout } = await promisify(execFile)('pgrep', ['-P', String(pid)]).catch(() => ({
    stdout: '',
  }));
  return stdout.split('\n').filter(Boolean).map(Number);
}

describe.skipIf(!adminUrl)('fleetpmap-server --workers 2', () => {
  const servers = useServerProcesses(adminUrl);

  it('serves from several processes, sums their metrics, and stops them all', {
    timeout: 120_000,
  }, async () => {
    const server = await servers.start(['--workers', '2']);
    // From the moment the server says it listens, /metrics answers from every worker.
    const first = await rawRequest(server.url, { method: 'GET', path: '/metrics' });
    expect(first.status).toBe(200);
    expect(first.text).toMatch(/^fleetpmap_hosts_seen 0$/m);
    const { admin } = server;
    const agent = createClient(
      server.url,
      (await admin.token.create.mutate({ role: 'agent', hostName: 'web-07' })).token,
    );
    // Concurrent requests open several connections, which the cluster spreads over the workers.
    const pushes = 12;
    await Promise.all(
      Array.from({ length: pushes }, () => agent.snapshot.push.mutate(fullSnapshot())),
    );
    const metrics = (await rawRequest(server.url, { method: 'GET', path: '/metrics' })).text;
    expect(metrics).toMatch(
      new RegExp(`^fleetpmap_ingest_snapshots_total\\{outcome="stored"\\} ${pushes}$`, 'm'),
    );
    expect(metrics).toMatch(/^fleetpmap_hosts_seen 1$/m);

    server.child.kill('SIGTERM');
    const [code] = await once(server.child, 'exit');
    expect(code).toBe(0);
  });

  it('makes each scheduled report once across its workers, missing no slot', {
    timeout: 60_000,
  }, async () => {
    // A slot every two seconds, looked for every 100 ms by each of three workers.
    const startedMs = Date.now();
    const server = await servers.start(['--workers', '3'], {
      FLEETPMAP_REPORT_SCHEDULE: '*/2 * * * * *',
      FLEETPMAP_REPORT_TICK_MS: '100',
    });
    await sleep(9000);
    server.child.kill('SIGTERM');
    const [code] = await once(server.child, 'exit');
    expect(code).toBe(0);
    expect(server.output.stderr).not.toMatch(/job failed|duplicate key/);
    const restarted = await servers.start([], { FLEETPMAP_REPORT_SCHEDULE: 'off' });
    // (The other tests' servers, on the default daily schedule, may have made that day's report.)
    const reports = (await restarted.admin.report.list.query({ limit: 100 })).filter(
      (r) => (r.slotMs ?? 0) >= startedMs - 2000,
    );
    const slots = reports.map((r) => r.slotMs ?? 0).sort((a, b) => a - b);
    expect(slots.length).toBeGreaterThanOrEqual(3);
    expect(new Set(slots).size).toBe(slots.length);
    // consecutive: no slot was skipped while the workers ran
    for (let i = 1; i < slots.length; i++) expect((slots[i] ?? 0) - (slots[i - 1] ?? 0)).toBe(2000);
    expect(reports.every((r) => r.state === 'done' && r.schedule === 'scheduled')).toBe(true);
    // every report but the first says what changed since the one before
    const bySlot = [...reports].sort((a, b) => (a.slotMs ?? 0) - (b.slotMs ?? 0));
    expect(bySlot.slice(1).every((r) => r.newLeaks === 0)).toBe(true);
  });

  it('answers /metrics while a dead worker is replaced', { timeout: 60_000 }, async () => {
    const server = await servers.start(['--workers', '2']);
    const workers = await childPids(server.child.pid ?? 0);
    expect(workers).toHaveLength(2);
    process.kill(workers[0] ?? 0, 'SIGKILL');
    // The replacement is forked a second later; ask as soon as it exists, while it starts.
    let replacement: number | undefined;
    for (let i = 0; i < 100 && replacement === undefined; i++) {
      await sleep(50);
      replacement = (await childPids(server.child.pid ?? 0)).find((p) => !workers.includes(p));
    }
    expect(replacement).toBeDefined();
    const metrics = await rawRequest(server.url, { method: 'GET', path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^fleetpmap_hosts_seen 0$/m);
  });
});
