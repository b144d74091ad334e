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
