import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createDb,
  createScratchDb,
  MIGRATIONS_DIR,
  migrate,
  queryRows,
  type ScratchDb,
} from '@fleetpmap/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgbouncerSkipReason, startPgBouncer, type TestPgBouncer } from '../support/pgbouncer.ts';
import { until } from '../support/until.ts';
import { fullSnapshot } from './corpus.ts';
import { postgresAdminUrl, rawRequest, startTestServer } from './harness.ts';

const adminUrl = postgresAdminUrl('the PgBouncer tests');
const missing = adminUrl ? pgbouncerSkipReason('the PgBouncer tests') : 'no test Postgres';

/** The outcome of `work` ('ok', or its failure's message), or 'still waiting' after `ms`. */
function within(work: Promise<unknown>, ms: number): Promise<string> {
  const outcome = work.then(
    () => 'ok',
    (error: Error & { cause?: Error }) => error.cause?.message ?? error.message,
  );
  const timeout = new Promise<string>((resolve) =>
    setTimeout(() => resolve('still waiting'), ms).unref(),
  );
  return Promise.race([outcome, timeout]);
}

// Transaction pooling: a client's statements outside a transaction each go to whichever server
// connection is free, so nothing the server does may rely on session state. Session pooling
// gives each client connection one server connection for as long as it is open: pool room for
// every replica's connections is the operator's part (here 4 replicas of 2 and a test's own).
describe.skipIf(missing !== null).each([
  { poolMode: 'transaction', poolSize: 6 },
  { poolMode: 'session', poolSize: 12 },
] as const)('the server behind PgBouncer in $poolMode pooling mode', ({ poolMode, poolSize }) => {
  let scratch: ScratchDb;
  let bouncer: TestPgBouncer;
  let url: string;
  /** the scratch database's backends, seen on a direct connection to Postgres */
  const backends = (where: string) =>
    queryRows<{ pid: number; app: string; query: string }>(
      scratch.db,
      `select pid, application_name as app, query from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid() and (${where})`,
    );

  beforeAll(async () => {
    scratch = await createScratchDb(adminUrl as string, { prefix: 'fleetpmap_pgbouncer' });
    bouncer = await startPgBouncer(adminUrl as string, { poolMode, poolSize });
    url = bouncer.url(new URL(scratch.url).pathname.slice(1));
  });
  afterAll(async () => {
    await bouncer?.[Symbol.asyncDispose]();
    await scratch?.[Symbol.asyncDispose]();
  });

  // Replicas of one deployment start together against a fresh database, each applying the
  // migrations. Before, in transaction mode, migrate's session-level lock stayed on whichever
  // server connection took it, where the next replica's statement could take it again, or its
  // unlock went elsewhere: in six runs of four replicas, every run had replicas failing on the
  // catalog race (pg_namespace_nspname_index) or still waiting after 5 s, and 2 or 3 locks left
  // held.
  it('lets four replicas starting together migrate a fresh database through it', {
    timeout: 90_000,
  }, async () => {
    const replicas = await Promise.all(
      Array.from({ length: 4 }, () => createDb(url, { maxConnections: 2 })),
    );
    try {
      const outcomes = await Promise.all(replicas.map((r) => within(migrate(r), 30_000)));
      expect(outcomes).toEqual(['ok', 'ok', 'ok', 'ok']);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
    // nothing left behind on the server connections PgBouncer keeps, and each migration once
    const [locks] = await queryRows<{ n: number }>(
      scratch.db,
      `select count(*)::int as n from pg_locks
       where locktype = 'advisory' and database = (select oid from pg_database
                                                   where datname = current_database())`,
    );
    expect(locks?.n).toBe(0);
    const journal = JSON.parse(
      await readFile(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8'),
    ) as { entries: unknown[] };
    const applied = await queryRows<{ hash: string }>(
      scratch.db,
      'select hash from drizzle.__drizzle_migrations',
    );
    expect(applied).toHaveLength(journal.entries.length);
    expect(new Set(applied.map((a) => a.hash)).size).toBe(applied.length);
  });

  it('stores pushed snapshots and reads them back', { timeout: 90_000 }, async () => {
    await using server = await startTestServer({ name: 'postgres-url', url });
    expect((await rawRequest(server.url, { method: 'GET', path: '/readyz' })).status).toBe(200);
    const admin = server.client(server.adminToken);
    const hosts = ['web-01', 'web-02', 'web-03', 'web-04', 'web-05', 'web-06'];
    // at once: their transactions spread over PgBouncer's server connections
    const pushes = await Promise.all(
      hosts.map((name) => admin.snapshot.push.mutate(fullSnapshot(name))),
    );
    expect(pushes.every((p) => p.accepted && !p.duplicate && p.processCount === 2)).toBe(true);
    expect(await server.server.database.storedSnapshotCount()).toBe(6);
    const listedHosts = await admin.host.list.query();
    expect(listedHosts.map((h) => [h.name, h.processCount]).sort()).toEqual(
      hosts.map((name) => [name, 2]),
    );
    const processes = await admin.process.list.query({ hostGlob: 'web-0[25]' });
    const pids = fullSnapshot()
      .processes.map((p) => p.pid)
      .sort();
    expect(processes.map((p) => `${p.host} ${p.pid}`).sort()).toEqual(
      ['web-02', 'web-05'].flatMap((host) => pids.map((pid) => `${host} ${pid}`)),
    );
  });

  // The pids the driver is given are PgBouncer's, not the server's: nothing can be told from
  // them, and the check that looks for dead connections by pid must stay off.
  it('keeps the dead-connection check off: nothing found dead, no backend ended', {
    timeout: 60_000,
  }, async () => {
    const handle = await createDb(url, { maxConnections: 2, stallMs: 300 });
    try {
      // Both connections busy for 3 s with more work behind them: queries wait far past the
      // 2 × 300 ms after which the check asks Postgres about their connections.
      const work = Promise.all([
        queryRows(handle.db, 'select pg_sleep(3)'),
        queryRows(handle.db, 'select pg_sleep(3)'),
        queryRows<{ one: number }>(handle.db, 'select 1 as one'),
      ]);
      let sleeping: number[] = [];
      await until('both sleeps running', async () => {
        sleeping = (await backends(`query = 'select pg_sleep(3)' and state = 'active'`)).map(
          (b) => b.pid,
        );
        return sleeping.length === 2;
      });
      // the check did look, through PgBouncer, while the sleeps ran
      await until(
        'the dead-connection check',
        async () => (await backends(`query like '%pg_backend_pid() as self%'`)).length > 0,
        2_500,
      );
      const [, , last] = await work;
      expect(last).toEqual([{ one: 1 }]);
      // the sleeping backends were not ended, and the pool was not replaced
      const after = (await backends('true')).map((b) => b.pid);
      expect(after).toEqual(expect.arrayContaining(sleeping));
      const [row] = await queryRows<{ name: string }>(
        handle.db,
        `select current_setting('application_name') as name`,
      );
      expect(row?.name).toMatch(/^fleetpmap [0-9a-f]{8}\.1$/);
      expect(bouncer.log()).not.toMatch(/server conn crashed/);
    } finally {
      await handle.close();
    }
  });
});
