import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import {
  createClient,
  createPostgresDatabase,
  type Driver,
  drivers,
  rawRequest,
  startServerProcess,
} from './harness.ts';

const postgresDriver = drivers().find(
  (d): d is Extract<Driver, { name: 'postgres' }> => d.name === 'postgres',
);
if (!postgresDriver)
  console.warn('skipping the --workers test: it needs FLEETPMAP_TEST_DATABASE_URL');

describe.skipIf(!postgresDriver)('fleetpmap-server --workers 2', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('serves from several processes, sums their metrics, and stops them all', {
    timeout: 120_000,
  }, async () => {
    const database = await createPostgresDatabase(
      (postgresDriver as { adminUrl: string }).adminUrl,
    );
    cleanups.push(() => database[Symbol.asyncDispose]());
    const dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-workers-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const server = await startServerProcess([
      '--database',
      database.url,
      '--data-dir',
      dataDir,
      '--workers',
      '2',
    ]);
    cleanups.push(async () => {
      if (server.child.exitCode === null) server.child.kill('SIGKILL');
    });

    const admin = createClient(
      server.url,
      (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim(),
    );
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
