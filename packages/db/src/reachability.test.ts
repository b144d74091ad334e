import { once } from 'node:events';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createDb, type DbHandle, queryRows } from './client.ts';
import { DatabaseUnreachable, ReachabilityWatch, responsiveDeadline } from './reachability.ts';
import { createScratchDb } from './test-db.ts';
import { createFaultyProxy } from './test-proxy.ts';

/** Keeps the event loop busy, as a long synchronous decode of a big result does. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe('responsiveDeadline', () => {
  it('fires once its time has passed, and not when cancelled', async () => {
    const t0 = performance.now();
    await new Promise<void>((resolve) => responsiveDeadline(150, resolve));
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(145);
    expect(took).toBeLessThan(1_000);
    let fired = false;
    const cancel = responsiveDeadline(50, () => {
      fired = true;
    });
    cancel();
    await sleep(200);
    expect(fired).toBe(false);
  });

  it('lets an answer that arrived while the event loop was blocked win over the time blocked', async () => {
    // A socket answer (as a database's) arrives while this process decodes something else for
    // three times the deadline. A plain timer fires first once the loop is free, since Node runs
    // due timers before it reads sockets, and the answer waiting unread loses.
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = tcpConnect(address.port, '127.0.0.1');
    await once(client, 'connect');
    const [peer] = await accepted;
    try {
      for (let round = 0; round < 3; round++) {
        const outcome = await new Promise<string>((resolve) => {
          const cancel = responsiveDeadline(100, () => resolve('timed out'));
          client.once('data', () => {
            cancel();
            resolve('answered');
          });
          peer.write('answer');
          blockEventLoop(300);
        });
        expect(outcome).toBe('answered');
      }
      // Time the loop was free still counts: with no answer, the deadline is kept.
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        responsiveDeadline(300, resolve);
        blockEventLoop(1_000);
      });
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(1_000 + 300 - 2 * 100 - 20);
      expect(took).toBeLessThan(2_000);
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });
});

describe('ReachabilityWatch', () => {
  it('gives up on waiting work when a check finds the database gone, lets it be when not', async () => {
    let reachable = true;
    let checks = 0;
    const watch = new ReachabilityWatch({
      stallMs: 50,
      check: async () => {
        checks++;
        if (!reachable) throw new Error('ECONNREFUSED');
        return undefined;
      },
    });
    try {
      const aborted: unknown[] = [];
      const slow = watch.track((e) => aborted.push(e));
      await sleep(200);
      expect(checks).toBeGreaterThan(0); // checked, found there: slow work goes on
      expect(aborted).toEqual([]);
      slow.settle(true);

      reachable = false;
      watch.track((e) => aborted.push(e));
      await sleep(200);
      expect(aborted).toHaveLength(1);
      expect(aborted[0]).toBeInstanceOf(DatabaseUnreachable);
      expect(watch.down).toBe(true);
      expect(() => watch.track(() => {})).toThrow(DatabaseUnreachable);

      reachable = true; // checked again while down, without any work waiting
      await sleep(200);
      expect(watch.down).toBe(false);
      watch.track(() => {}).settle(true);
    } finally {
      watch.close();
    }
  });

  it('gives up on work waiting long on a connection a check finds dead, and on that only', async () => {
    const looked: string[][] = [];
    const watch = new ReachabilityWatch<string>({
      stallMs: 50,
      check: async (suspects) => {
        looked.push([...suspects]);
        // as a real check: it judges the suspects only
        return suspects.includes('dead') ? (place) => place === 'dead' : undefined;
      },
    });
    try {
      const aborted: string[] = [];
      watch.track(() => aborted.push('dead'), 'dead');
      const slow = watch.track(() => aborted.push('slow'), 'slow');
      const unplaced = watch.track(() => aborted.push('unplaced'));
      await sleep(400);
      expect(aborted).toEqual(['dead']);
      expect(watch.down).toBe(false);
      // both looked at once they had waited 2 × stallMs, not before: together, or 'slow' at the
      // next check when the timer fired within the microseconds between the two calls above
      expect(looked[0]).toEqual([]);
      expect(looked.find((s) => s.length > 0)?.[0]).toBe('dead');
      expect(looked.some((s) => s.includes('slow'))).toBe(true);
      slow.settle(true);
      unplaced.settle(true);
    } finally {
      watch.close();
    }
  });
});

const adminUrl = process.env.FLEETPMAP_TEST_DATABASE_URL;

/** A query's outcome: 'ok', or the code of its failure (drizzle wraps the driver's error). */
async function outcome(handle: DbHandle, sql = 'select 1'): Promise<string> {
  try {
    await queryRows(handle.db, sql);
    return 'ok';
  } catch (error) {
    const e = error as { code?: string; cause?: { code?: string } };
    return e.cause?.code ?? e.code ?? String(error);
  }
}

async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work;
  return { value, ms: performance.now() - started };
}

/** `timed`, or 'still waiting' after `ms`. */
function timedWithin<T>(
  work: Promise<T>,
  ms: number,
): Promise<{ value: T | 'still waiting'; ms: number }> {
  return timed(Promise.race([work, sleep(ms).then(() => 'still waiting' as const)]));
}

/** A transaction's outcome, as `outcome`'s. */
function transactionOutcome(handle: DbHandle, sql: string): Promise<string> {
  return handle.db
    .transaction(async (tx) => {
      await queryRows(tx, sql);
    })
    .then(
      () => 'ok',
      (e: { code?: string }) => e.code ?? String(e),
    );
}

async function untilOk(handle: DbHandle, withinMs: number): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < withinMs) {
    if ((await outcome(handle)) === 'ok') return performance.now() - started;
    await sleep(100);
  }
  throw new Error(`no answer within ${withinMs} ms of the database coming back`);
}

/** postgres.js used to wait 30 s to connect, and forever on a connection gone silent. */
const OLD_CONNECT_TIMEOUT_MS = 30_000;

describe.runIf(adminUrl)('queries when Postgres cannot be reached', () => {
  async function setup(opts: Parameters<typeof createDb>[1] = {}) {
    const scratch = await createScratchDb(adminUrl as string, { prefix: 'fleetpmap_reach' });
    const direct = new URL(scratch.url);
    const proxy = await createFaultyProxy({
      host: direct.hostname,
      port: Number(direct.port || 5432),
    });
    const handle = await createDb(proxy.via(scratch.url), opts);
    return {
      scratch,
      proxy,
      handle,
      async [Symbol.asyncDispose]() {
        await proxy.restore();
        await handle.close();
        await proxy[Symbol.asyncDispose]();
        await scratch[Symbol.asyncDispose]();
      },
    };
  }

  it('fails fast on a refused connection, many queries at once, and recovers', {
    timeout: 90_000,
  }, async () => {
    await using t = await setup();
    expect(await outcome(t.handle)).toBe('ok');
    await t.proxy.refuse();
    let worst = 0;
    for (let round = 0; round < 4; round++) {
      const results = await Promise.all(Array.from({ length: 40 }, () => timed(outcome(t.handle))));
      for (const r of results) {
        expect(['ECONNREFUSED', 'CONNECTION_CLOSED', 'DATABASE_UNREACHABLE']).toContain(r.value);
        worst = Math.max(worst, r.ms);
      }
    }
    // Before: up to the reconnect backoff of 20 s per attempt, and queues behind it (~35 s).
    expect(worst).toBeLessThan(10_000);
    await t.proxy.restore();
    expect(await untilOk(t.handle, 10_000)).toBeLessThan(10_000);
  });

  it('gives up on queries sent to a host gone silent, then works again when it answers', {
    timeout: 90_000,
  }, async () => {
    await using t = await setup();
    await Promise.all([outcome(t.handle), outcome(t.handle)]); // connections in the pool
    t.proxy.hang();
    const stuck = await timed(outcome(t.handle));
    expect(stuck.value).toBe('DATABASE_UNREACHABLE');
    // Before: no answer at all (postgres.js waits for TCP to give up, minutes later).
    expect(stuck.ms).toBeLessThan(OLD_CONNECT_TIMEOUT_MS / 2);
    // Known unreachable: the next query fails at once instead of waiting again.
    const next = await timed(outcome(t.handle));
    expect(next.value).toBe('DATABASE_UNREACHABLE');
    expect(next.ms).toBeLessThan(1_000);
    await t.proxy.restore();
    expect(await untilOk(t.handle, 15_000)).toBeLessThan(15_000);
  });

  it('times out connecting to a host that does not answer', { timeout: 60_000 }, async () => {
    await using t = await setup();
    t.proxy.hang();
    const first = await timed(outcome(t.handle));
    expect(['CONNECT_TIMEOUT', 'DATABASE_UNREACHABLE']).toContain(first.value);
    expect(first.ms).toBeLessThan(OLD_CONNECT_TIMEOUT_MS / 2);
    await t.proxy.restore();
    expect(await untilOk(t.handle, 15_000)).toBeLessThan(15_000);
  });

  it('lets long work run while the database answers', { timeout: 60_000 }, async () => {
    await using t = await setup({ stallMs: 200 });
    expect(await outcome(t.handle, 'select pg_sleep(1.5)')).toBe('ok');
    await t.handle.db.transaction(async (tx) => {
      await queryRows(tx, 'select pg_sleep(1)');
      await queryRows(tx, 'select pg_sleep(0.5)');
    });
  });

  it('gives up on queries on connections whose path is gone while new ones work, then uses new ones', {
    timeout: 90_000,
  }, async () => {
    await using t = await setup({ maxConnections: 3 });
    await Promise.all([outcome(t.handle), outcome(t.handle), outcome(t.handle)]); // 3 connections
    const started = performance.now();
    const sent = [
      timedWithin(outcome(t.handle, 'select pg_sleep(1)'), 30_000),
      timedWithin(outcome(t.handle, 'select pg_sleep(1)'), 30_000),
      timedWithin(transactionOutcome(t.handle, 'select pg_sleep(1)'), 30_000),
    ];
    await sleep(300);
    t.proxy.freeze(); // no reset: the old connections just never answer again
    await sleep(1_000);
    const later = Array.from({ length: 4 }, () => timedWithin(outcome(t.handle), 30_000));
    const results = await Promise.all([...sent, ...later]);
    for (const r of results) expect(r.value).toBe('DATABASE_UNREACHABLE');
    // Before: all still waiting at 30 s, and for good (new queries queued behind the silent
    // connections, the check's own new connection answering).
    expect(performance.now() - started).toBeLessThan(15_000);
    // and the frozen transaction's backend does not stay on the server holding what it took
    // (ended by then, perhaps not yet gone)
    let idle: unknown[] = [];
    for (let tries = 0; tries < 20; tries++) {
      idle = await queryRows(
        t.scratch.db,
        `select pid from pg_stat_activity
         where datname = current_database() and state like 'idle in transaction%'`,
      );
      if (idle.length === 0) break;
      await sleep(100);
    }
    expect(idle).toEqual([]);
    // the pool works again on new connections, as many at once as before
    const next = await timed(outcome(t.handle));
    expect(next.value).toBe('ok');
    expect(next.ms).toBeLessThan(5_000);
    const busy = await Promise.all([
      ...Array.from({ length: 6 }, () => outcome(t.handle, 'select pg_sleep(0.2)')),
      transactionOutcome(t.handle, 'select 1'),
    ]);
    expect(busy).toEqual(Array(7).fill('ok'));
  });

  it('lets long queries holding every connection run, with more work waiting behind them', {
    timeout: 60_000,
  }, async () => {
    await using t = await setup({ maxConnections: 2, stallMs: 500 });
    const results = await Promise.all([
      outcome(t.handle, 'select pg_sleep(6)'),
      outcome(t.handle, 'select pg_sleep(6)'),
      ...Array.from({ length: 3 }, () => outcome(t.handle)),
      // idle in transaction for a while between its queries
      t.handle.db
        .transaction(async (tx) => {
          await queryRows(tx, 'select 1');
          await sleep(2_000);
          await queryRows(tx, 'select pg_sleep(1)');
        })
        .then(
          () => 'ok',
          (e: { code?: string }) => e.code ?? String(e),
        ),
    ]);
    expect(results).toEqual(Array(6).fill('ok'));
  });

  it('writes given up on do not land when the database comes back', {
    timeout: 90_000,
  }, async () => {
    await using t = await setup({ maxConnections: 2, stallMs: 500, connectTimeoutMs: 2_000 });
    await queryRows(t.handle.db, 'create table w (x int)');
    t.proxy.hang();
    const writes = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => outcome(t.handle, `insert into w values (${i})`)),
      t.handle.db
        .transaction(async (tx) => {
          await queryRows(tx, 'insert into w values (100)');
        })
        .then(
          () => 'ok',
          (e: { code?: string }) => e.code ?? String(e),
        ),
    ]);
    for (const w of writes) expect(['CONNECT_TIMEOUT', 'DATABASE_UNREACHABLE']).toContain(w);
    await t.proxy.restore();
    await untilOk(t.handle, 15_000);
    await sleep(1_000);
    expect(await queryRows(t.handle.db, 'select x from w')).toEqual([]);
    // and no connection of the pool of two is left stuck
    const busy = await Promise.all(
      Array.from({ length: 4 }, () => outcome(t.handle, 'select pg_sleep(0.2)')),
    );
    expect(busy).toEqual(['ok', 'ok', 'ok', 'ok']);
  });
});
