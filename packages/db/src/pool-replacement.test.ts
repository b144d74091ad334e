import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createDb, type DbHandle, migrate, queryRows } from './client.ts';
import { createScratchDb } from './test-db.ts';
import { createFaultyProxy } from './test-proxy.ts';

const adminUrl = process.env.FLEETPMAP_TEST_DATABASE_URL;

/** The advisory lock `migrate` takes (`MIGRATION_LOCK` in client.ts): 'flmg'. */
const MIGRATION_LOCK = 0x66_6c_6d_67;

/** the `application_name` of the test's own connections, which look at the others */
const ADMIN = 'pool-replacement-test';

/** The code of a failure (drizzle wraps the driver's error), or 'ok'. */
function codeOf(work: Promise<unknown>): Promise<string> {
  return work.then(
    () => 'ok',
    (error: { code?: string; cause?: { code?: string } }) =>
      error.cause?.code ?? error.code ?? String(error),
  );
}

function outcome(handle: DbHandle, sql: string): Promise<string> {
  return codeOf(queryRows(handle.db, sql));
}

/** The outcome of `work`, or 'still waiting' after `ms`. */
function within(work: Promise<string>, ms: number): Promise<string> {
  return Promise.race([work, sleep(ms).then(() => 'still waiting')]);
}

describe.runIf(adminUrl)('a pool replaced after one of its connections is found dead', () => {
  async function setup(opts: Parameters<typeof createDb>[1] = {}) {
    const scratch = await createScratchDb(adminUrl as string, { prefix: 'fleetpmap_replace' });
    const direct = new URL(scratch.url);
    const proxy = await createFaultyProxy({
      host: direct.hostname,
      port: Number(direct.port || 5432),
    });
    const handle = await createDb(proxy.via(scratch.url), opts);
    // straight to the database, not through the proxy; two connections, for one to be reserved
    const admin = postgres(scratch.url, {
      max: 2,
      onnotice: () => {},
      connection: { application_name: ADMIN },
    });
    return {
      scratch,
      proxy,
      handle,
      admin,
      /**
       * The client ports the database shows (the proxy's side of each connection) of the
       * backends other than the test's own that match `condition`, once there are `count`.
       */
      async portsWhere(condition: string, count: number): Promise<number[]> {
        const started = performance.now();
        for (;;) {
          const rows = await admin.unsafe<{ port: number }[]>(
            `select client_port as port from pg_stat_activity
             where datname = current_database() and application_name <> '${ADMIN}'
               and (${condition})`,
          );
          if (rows.length === count) return rows.map((r) => r.port);
          if (performance.now() - started > 15_000) {
            throw new Error(`${rows.length} backends where ${condition}, not ${count}`);
          }
          await sleep(50);
        }
      },
      async [Symbol.asyncDispose]() {
        await handle.close();
        await admin.end({ timeout: 1 });
        await proxy[Symbol.asyncDispose]();
        await scratch[Symbol.asyncDispose]();
      },
    };
  }

  it('keeps migrate’s transaction, and its lock, until migrate is done', {
    timeout: 90_000,
  }, async () => {
    await using t = await setup({ maxConnections: 3 });
    // another replica migrating: migrate's transaction waits for the lock
    const other = await t.admin.reserve();
    try {
      await other`select pg_advisory_lock(${MIGRATION_LOCK})`;
      const migrating = codeOf(migrate(t.handle));
      const [session] = await t.portsWhere(
        `wait_event_type = 'Lock' and query like '%pg_advisory_xact_lock%'`,
        1,
      );
      // two queries on the two other connections of the pool, whose path goes while they run
      const sleeps = [
        outcome(t.handle, 'select pg_sleep(3)'),
        outcome(t.handle, 'select pg_sleep(3)'),
      ];
      const sleeping = await t.portsWhere(`query = 'select pg_sleep(3)' and state = 'active'`, 2);
      expect(sleeping).not.toContain(session);
      expect(t.proxy.freezeWhere((c) => sleeping.includes(c.serverSidePort ?? -1))).toBe(2);
      expect(await Promise.all(sleeps)).toEqual(['DATABASE_UNREACHABLE', 'DATABASE_UNREACHABLE']);
      // The pool was replaced: new work runs on new connections, while migrate still waits on
      // the old pool's connection. Before: that pool was ended at once, that connection with it,
      // and migrate failed (CONNECTION_DESTROYED).
      expect(await outcome(t.handle, 'select 1')).toBe('ok');
      expect(await within(migrating, 1_000)).toBe('still waiting');
      await t.portsWhere(`wait_event_type = 'Lock' and client_port = ${session}`, 1);

      await other`select pg_advisory_unlock(${MIGRATION_LOCK})`;
      expect(await within(migrating, 60_000)).toBe('ok');
    } finally {
      await other`select pg_advisory_unlock_all()`;
      other.release();
    }
    const [applied] = await t.admin<{ n: number }[]>`
      select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(applied?.n).toBeGreaterThan(0);
    // the lock was let go, and the old pool ended once migrate was done
    const [free] = await t.admin<{ got: boolean }[]>`
      select pg_try_advisory_lock(${MIGRATION_LOCK}) as got`;
    expect(free?.got).toBe(true);
    await t.portsWhere(`application_name like '%.1'`, 0);
    expect(await outcome(t.handle, 'select 1')).toBe('ok');
  });

  it('lets a transaction on a working connection go on when another of its pool is found dead', {
    timeout: 90_000,
  }, async () => {
    await using t = await setup({ maxConnections: 2 });
    // Five statements issued at once. With a parameter, the first is described before it runs,
    // so the driver holds the others in the transaction's queue and sends them one at a time:
    // the last ones wait there, not yet on the connection, for seconds.
    const transaction = codeOf(
      t.handle.db.transaction(async (tx) => {
        await Promise.all(
          Array.from({ length: 5 }, () => queryRows(tx, sql`select pg_sleep(${2})`)),
        );
      }),
    );
    const [inTransaction] = await t.portsWhere(`query = 'select pg_sleep($1)'`, 1);
    const single = outcome(t.handle, 'select pg_sleep(3)');
    const [lost] = await t.portsWhere(`query = 'select pg_sleep(3)' and state = 'active'`, 1);
    expect(lost).not.toBe(inTransaction);
    expect(t.proxy.freezeWhere((c) => c.serverSidePort === lost)).toBe(1);

    expect(await within(single, 60_000)).toBe('DATABASE_UNREACHABLE');
    // Before: the statements still waiting their turn were taken for work waiting for a
    // connection of the replaced pool, and given up with the dead connection's query.
    expect(await within(transaction, 60_000)).toBe('ok');
    expect(await outcome(t.handle, 'select 1')).toBe('ok');
  });
});
