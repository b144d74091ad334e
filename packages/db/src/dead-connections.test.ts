import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createDb, queryRows, withoutApplicationName } from './client.ts';
import { type Backend, DeadConnections } from './dead-connections.ts';
import { createScratchDb } from './test-db.ts';

const adminUrl = process.env.FLEETPMAP_TEST_DATABASE_URL;

describe('withoutApplicationName', () => {
  it('takes the name out of the URL and leaves the rest as it was', () => {
    expect(withoutApplicationName('postgres://u:p%40ss@db:5432/fleet')).toEqual({
      url: 'postgres://u:p%40ss@db:5432/fleet',
      name: undefined,
    });
    expect(
      withoutApplicationName('postgres://db/fleet?sslmode=require&application_name=ops+console'),
    ).toEqual({ url: 'postgres://db/fleet?sslmode=require', name: 'ops console' });
    expect(withoutApplicationName('postgres://db/fleet?application_name=a%26b&x=1')).toEqual({
      url: 'postgres://db/fleet?x=1',
      name: 'a&b',
    });
  });
});

describe.runIf(adminUrl)('dead connections on a database other applications share', () => {
  it('never counts or ends a backend that is not one of the pool’s, whatever its pid', {
    timeout: 60_000,
  }, async () => {
    await using scratch = await createScratchDb(adminUrl as string, { prefix: 'fleetpmap_dead' });
    // Another application's connection, idle, on the same database and as the same user: after
    // a failover, or with pids reused, a dead connection of ours can carry its pid.
    const other = postgres(scratch.url, { max: 1, connection: { application_name: 'billing' } });
    const probe = postgres(scratch.url, { max: 1 });
    try {
      const [{ pid }] = (await other`select pg_backend_pid() as pid`) as unknown as [
        { pid: number },
      ];
      const ours: Backend = { pid, secret: 1 };
      const check = new DeadConnections();
      const tagOf = () => 'fleetpmap 0123abcd.1';
      expect((await check.find(probe, [ours], tagOf)).size).toBe(0); // first look
      await sleep(300);
      // ours is not there (the pid is billing's): dead after two looks
      expect([...(await check.find(probe, [ours], tagOf))]).toEqual([ours]);
      await sleep(500); // the end of a stale backend is not waited for
      // and billing's connection was left alone: the same backend answers
      const [{ still }] = (await other`select pg_backend_pid() as still`) as unknown as [
        { still: number },
      ];
      expect(still).toBe(pid);
    } finally {
      await other.end({ timeout: 1 });
      await probe.end({ timeout: 1 });
    }
  });

  it('names its connections after the URL’s application_name, and lets long queries run', {
    timeout: 60_000,
  }, async () => {
    await using scratch = await createScratchDb(adminUrl as string, { prefix: 'fleetpmap_dead' });
    const handle = await createDb(`${scratch.url}?application_name=ops-console`, {
      maxConnections: 2,
      stallMs: 500,
    });
    try {
      const [row] = await queryRows<{ name: string }>(
        handle.db,
        `select current_setting('application_name') as name`,
      );
      expect(row?.name).toMatch(/^ops-console [0-9a-f]{8}\.1$/);
      // Both connections busy for 3 s, more work behind them: checked, and never given up on.
      const results = await Promise.all([
        queryRows(handle.db, 'select pg_sleep(3)'),
        queryRows(handle.db, 'select pg_sleep(3)'),
        queryRows(handle.db, 'select 1 as one'),
      ]);
      expect(results[2]).toEqual([{ one: 1 }]);
    } finally {
      await handle.close();
    }
  });
});
