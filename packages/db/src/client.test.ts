import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleSnapshot } from '@fleetpmap/protocol';
import { describe, expect, it } from 'vitest';
import { createDb, defaultDataDir, migrate, queryRows } from './client.ts';
import { ingestSnapshot } from './ingest.ts';
import { listHosts } from './queries.ts';
import { createScratchDb } from './test-db.ts';

const postgresUrl = process.env.FLEETPMAP_TEST_DATABASE_URL;

describe('createDb', () => {
  it('keeps PGlite data on disk across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-pglite-'));
    try {
      const first = await createDb(undefined, { dataDir: dir });
      await migrate(first);
      await ingestSnapshot(first.db, exampleSnapshot());
      await first.close();
      const second = await createDb(undefined, { dataDir: dir });
      await migrate(second);
      expect((await listHosts(second.db)).map((h) => h.name)).toEqual(['web-07']);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('puts the default data directory under XDG_DATA_HOME, else ~/.local/share', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: '/srv/data' })).toBe('/srv/data/fleetpmap/pglite');
    expect(defaultDataDir({})).toMatch(/\/\.local\/share\/fleetpmap\/pglite$/);
  });

  it('refuses a URL that is not postgres://', async () => {
    await expect(createDb('mysql://localhost/x')).rejects.toThrow(/postgres:\/\//);
  });

  it('refuses a Postgres pool without a connection', async () => {
    await expect(createDb('postgres://127.0.0.1/x', { maxConnections: 0 })).rejects.toThrow(
      /at least 1 connection/,
    );
  });
});

describe.runIf(postgresUrl)('migrate on Postgres', () => {
  // Server replicas of one deployment start together against a fresh database; each applies the
  // migrations at start, and none may fail because another is applying them at the same moment.
  it('lets several servers migrate one fresh database at the same time', async () => {
    await using scratch = await createScratchDb(postgresUrl as string, {
      prefix: 'fleetpmap_migrate',
    });
    const replicas = await Promise.all(
      Array.from({ length: 4 }, () => createDb(scratch.url, { maxConnections: 2 })),
    );
    try {
      const outcomes = await Promise.allSettled(replicas.map((r) => migrate(r)));
      expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'ok'))).toEqual([
        'ok',
        'ok',
        'ok',
        'ok',
      ]);
      await ingestSnapshot(scratch.db, exampleSnapshot());
      expect((await listHosts(scratch.db)).map((h) => h.name)).toEqual(['web-07']);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  }, 120_000);
});

describe('a connection lost as it opens', () => {
  it('fails the query waiting on it and leaves nothing unhandled', async () => {
    // A server that lets the client in and drops the connection at its first statement: a
    // database restarting, or a proxy failing over, just after a new connection was ready. The
    // driver's own catalog query at that point (the array types it fetches by default) rejected
    // with no one to handle it, and Node ends a process on an unhandled rejection.
    const server = createServer((socket) => {
      let ready = false;
      socket.on('data', () => {
        if (ready) {
          socket.destroy();
          return;
        }
        ready = true;
        // AuthenticationOk, then ReadyForQuery (idle)
        socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49]));
      });
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as { port: number };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const handle = await createDb(`postgres://fleetpmap@127.0.0.1:${port}/fleetpmap`, {
      maxConnections: 1,
      connectTimeoutMs: 2_000,
    });
    try {
      await expect(queryRows(handle.db, 'select 1')).rejects.toThrow();
    } finally {
      await handle.close();
      server.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});
