import { once } from 'node:events';
import type { Snapshot } from '@fleetpmap/protocol';
import { describe, expect, it } from 'vitest';
import { createSimulatedHost, nextSnapshot } from '../../apps/server/scripts/simulated-fleet.ts';
import { createClient, postgresAdminUrl, useServerProcesses } from './harness.ts';

// SIGKILL in the middle of ingest: every snapshot the server acknowledged must be there after a
// restart on the same database (acknowledgement comes after the commit).
const adminUrl = postgresAdminUrl('the SIGKILL test');

describe.skipIf(!adminUrl)('server killed during ingest on Postgres', () => {
  const servers = useServerProcesses(adminUrl);

  it('loses no acknowledged snapshot', { timeout: 180_000 }, async () => {
    const first = await servers.start();
    const { admin } = first;
    const hosts = Array.from({ length: 4 }, (_, i) =>
      createSimulatedHost(i, { processes: 150, mappingsPerFullMap: 40 }),
    );
    const tokens = await Promise.all(
      hosts.map((h) => admin.token.create.mutate({ role: 'agent', hostName: h.name })),
    );

    const acknowledged: Snapshot[] = [];
    const sent: Snapshot[] = [];
    const startMs = Date.now() - 3_600_000;
    let killed = false;
    const pushLoop = async (i: number) => {
      const host = hosts[i];
      const agent = createClient(first.url, tokens[i]?.token);
      for (let cycle = 0; !killed && host; cycle++) {
        const snapshot = nextSnapshot(host, startMs + cycle * 30_000, {
          fullMaps: 1,
          rollupEvery: 5,
        });
        sent.push(snapshot);
        try {
          const r = await agent.snapshot.push.mutate(snapshot);
          if (r.accepted) acknowledged.push(snapshot);
        } catch {
          return; // the server is gone
        }
      }
    };
    const loops = hosts.map((_, i) => pushLoop(i));
    while (acknowledged.length < 20) await new Promise((r) => setTimeout(r, 20));
    first.child.kill('SIGKILL');
    killed = true;
    await once(first.child, 'exit');
    await Promise.all(loops);
    expect(sent.length).toBeGreaterThan(acknowledged.length);

    const second = await servers.start();
    const missing: string[] = [];
    for (const snapshot of acknowledged) {
      const i = hosts.findIndex((h) => h.name === snapshot.host.name);
      const r = await createClient(second.url, tokens[i]?.token).snapshot.push.mutate(snapshot);
      if (!r.duplicate) missing.push(snapshot.snapshotId);
    }
    expect(missing).toEqual([]);
  });
});
