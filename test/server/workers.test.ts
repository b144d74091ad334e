import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import { createClient, postgresAdminUrl, rawRequest, useServerProcesses } from './harness.ts';

const adminUrl = postgresAdminUrl('the --workers test');

describe.skipIf(!adminUrl)('fleetpmap-server --workers 2', () => {
  const servers = useServerProcesses(adminUrl);

  it('serves from several processes, sums their metrics, and stops them all', {
    timeout: 120_000,
  }, async () => {
    const server = await servers.start(['--workers', '2']);
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
});
