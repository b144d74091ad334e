import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { SQLWrapper } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { DatabaseUnreachable, ReachabilityWatch } from './reachability.ts';
import * as schema from './schema/index.ts';

export type Schema = typeof schema;

/** The database type every service takes: the common drizzle type of both drivers. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

export interface DbHandle {
  db: Db;
  driver: 'postgres' | 'pglite';
  /** where PGlite keeps its files (`memory://` when in memory); undefined for postgres */
  dataDir?: string;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** PGlite only: a directory, or `memory://` for a throwaway in-memory database */
  dataDir?: string;
  /** postgres only: pool size (default 10; at least 2, since `migrate` holds one for its lock) */
  maxConnections?: number;
  /**
   * postgres only: how long opening a connection may take, up to its first `ReadyForQuery`
   * (default: the URL's `connect_timeout` in seconds, as libpq reads it, else 5 s)
   */
  connectTimeoutMs?: number;
  /**
   * postgres only: how long queries may wait without any answer from the database before it is
   * checked, and while it is unreachable, how often (default 2 s; see `reachability.ts`)
   */
  stallMs?: number;
}

/** Default of `connectTimeoutMs`: postgres.js's own is 30 s, long past a client's patience. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Default of `stallMs`. */
export const DEFAULT_STALL_MS = 2_000;

/** The postgres.js client behind a database handle, for what needs one session (see `migrate`). */
const postgresClients = new WeakMap<Db, postgres.Sql>();

/** The advisory lock key under which migrations run (any fixed number no other lock uses). */
const MIGRATION_LOCK = 0x66_6c_6d_67; // 'flmg'

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));

/**
 * Where embedded PGlite keeps its data when no directory is given:
 * `$XDG_DATA_HOME/fleetpmap/pglite`, else `~/.local/share/fleetpmap/pglite`.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'fleetpmap', 'pglite');
}

/**
 * Opens the database: a `postgres://` (or `postgresql://`) URL uses postgres.js; no URL uses
 * embedded PGlite persisted in `dataDir` (default `defaultDataDir()`).
 * Migrations are not applied here; call `migrate`.
 */
export async function createDb(url?: string, opts: CreateDbOptions = {}): Promise<DbHandle> {
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url))
      throw new Error('database URL must start with postgres://');
    const max = opts.maxConnections ?? 10;
    if (!Number.isSafeInteger(max) || max < 2) {
      throw new Error(`a Postgres pool needs at least 2 connections, got ${max}`);
    }
    const connectTimeoutS = (opts.connectTimeoutMs ?? urlConnectTimeoutMs(url)) / 1000;
    const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    for (const [name, value] of [
      ['connectTimeoutMs', connectTimeoutS * 1000],
      ['stallMs', stallMs],
    ] as const) {
      if (!(Number.isFinite(value) && value > 0))
        throw new Error(`${name} must be > 0, got ${value}`);
    }
    const options = {
      onnotice: () => {},
      // The default (30 s) would let every request wait that long on a host that does not answer.
      connect_timeout: connectTimeoutS,
      // postgres.js waits up to 20 s between attempts after repeated failures; queries that come
      // after the database is back would wait as long. A second at most is plenty of politeness.
      backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1),
    };
    const client = postgres(url, {
      ...options,
      max,
      // int8 as JS numbers: every bigint here is a ms time, a KiB size or a tick count < 2^53
      types: {
        bigint: {
          to: 20,
          from: [20],
          serialize: (x: number) => String(x),
          parse: (x: string) => Number(x),
        },
      },
    });
    // The reachability check runs on a connection of its own, so that it never queues behind
    // the pool's work; it is dropped after a failure and opened anew at the next check.
    let probe: postgres.Sql | undefined;
    const check = async () => {
      probe ??= postgres(url, { ...options, max: 1, idle_timeout: 30, fetch_types: false });
      const sql = probe;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          sql`select 1`,
          new Promise((_, reject) => {
            timer = setTimeout(reject, connectTimeoutS * 1000 + 1000, new DatabaseUnreachable());
          }),
        ]);
      } catch (error) {
        if (answeredAlive(error)) return;
        if (probe === sql) probe = undefined;
        void sql.end({ timeout: 0 }).catch(() => {});
        throw error;
      } finally {
        clearTimeout(timer);
      }
    };
    const watch = new ReachabilityWatch({ stallMs, check });
    const db = drizzlePostgres({ client: guardClient(client, watch), schema }) as unknown as Db;
    postgresClients.set(db, client);
    const close = async () => {
      watch.close();
      await Promise.all([client.end({ timeout: 5 }), probe?.end({ timeout: 0 })]);
    };
    return { db, driver: 'postgres', close };
  }
  const dataDir = opts.dataDir ?? defaultDataDir();
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const client = await PGlite.create(dataDir);
  const db = drizzlePglite({ client, schema }) as unknown as Db;
  return { db, driver: 'pglite', dataDir, close: () => client.close() };
}

/**
 * Applies the committed migrations (idempotent; safe to run at every start).
 *
 * On Postgres, server replicas started together would otherwise apply them at the same moment,
 * and all but one fail on `CREATE TABLE` or `CREATE SCHEMA` racing in the catalog. A session-level
 * advisory lock, held on one reserved connection while the migrator runs on the pool, makes them
 * take turns: the first applies, the others find nothing left to do.
 */
export async function migrate(handle: DbHandle): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_DIR };
  if (handle.driver === 'postgres') {
    const client = postgresClients.get(handle.db);
    if (!client) throw new Error('migrate: database handle was not made by createDb');
    const session = await client.reserve();
    try {
      await session`select pg_advisory_lock(${MIGRATION_LOCK})`;
      try {
        await migratePostgres(handle.db as never, config);
      } finally {
        await session`select pg_advisory_unlock(${MIGRATION_LOCK})`;
      }
    } finally {
      session.release();
    }
  } else {
    await migratePglite(handle.db as never, config);
  }
}

/** Rows of a raw query on either driver (postgres.js returns an array, PGlite `{rows}`). */
export async function queryRows<T = Record<string, unknown>>(
  db: Db,
  query: SQLWrapper | string,
): Promise<T[]> {
  const result = (await db.execute(query)) as unknown;
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

/** `connect_timeout` of a database URL (seconds, as libpq reads it), else the default. */
function urlConnectTimeoutMs(url: string): number {
  const raw = new URL(url).searchParams.get('connect_timeout');
  return raw === null || raw === '' ? DEFAULT_CONNECT_TIMEOUT_MS : Number(raw) * 1000;
}

/** An error Postgres sent: it answered, so it is there (unless it is shutting down). */
function answeredAlive(error: unknown): boolean {
  return error instanceof postgres.PostgresError && !/^(08|57P)/.test(error.code);
}

/** The fields of a postgres.js query that its typings do not show. */
type DriverQuery = {
  /** the backend it was handed to; null while it waits for a connection */
  state: unknown;
  strings: string[];
  args: unknown[];
  canceller: ((query: unknown) => Promise<void>) | null;
};

/**
 * The pool as drizzle uses it (`unsafe`, `begin`, `savepoint`), with every query and transaction
 * watched by `watch`: given up on when the database stops answering (see `reachability.ts`).
 */
function guardClient(sql: postgres.Sql, watch: ReachabilityWatch): postgres.Sql {
  return new Proxy(sql, {
    get(target, prop) {
      if (prop === 'unsafe') {
        return (...args: Parameters<postgres.Sql['unsafe']>) =>
          guardQuery(target.unsafe(...args), watch);
      }
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.Sql) => unknown;
          const open = (target as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
            prop
          ] as (...a: unknown[]) => Promise<unknown>;
          return guardTransaction(
            (body) => open.call(target, ...args, body),
            (tx) => fn(guardClient(tx, watch)),
            watch,
          );
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Whether a failure carries an answer of the database (a result or an error of its own). */
function answered(error: unknown): boolean {
  return error instanceof postgres.PostgresError;
}

/** A query that runs (lazily, as postgres.js queries do) under the watch. */
function guardQuery<T extends PromiseLike<unknown>>(query: T, watch: ReachabilityWatch): T {
  let outcome: Promise<unknown> | undefined;
  const run = () => {
    outcome ??= new Promise((resolve, reject) => {
      let op: ReturnType<ReachabilityWatch['track']>;
      try {
        op = watch.track((error) => {
          reject(error);
          abandon(query);
        });
      } catch (error) {
        reject(error); // never handed to the driver
        return;
      }
      query.then(
        (rows) => {
          op.settle(true);
          resolve(rows);
        },
        (error: unknown) => {
          op.settle(answered(error));
          reject(error);
        },
      );
    });
    return outcome;
  };
  const guarded: T = new Proxy(query, {
    get(target, prop) {
      if (prop === 'then') {
        return (ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) =>
          run().then(ok, fail);
      }
      if (prop === 'catch') return (fail?: (e: unknown) => unknown) => run().catch(fail);
      if (prop === 'finally') return (fn?: () => void) => run().finally(fn);
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      // builder methods (`values`, `raw`, ...) return the query itself: keep it guarded
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        return result === target ? guarded : result;
      };
    },
  });
  return guarded;
}

/**
 * Gives up on a query: one sent to a backend is cancelled there (a CancelRequest, which fails
 * quietly when the server is unreachable); one still waiting for a connection is emptied, so that
 * a connection picking it up after the database is back runs nothing of it. (postgres.js's own
 * `cancel()` of a waiting query would leave the connection that was opening for it stuck.)
 */
function abandon(query: PromiseLike<unknown>): void {
  const q = query as unknown as DriverQuery;
  if (q.state) {
    const cancel = q.canceller;
    q.canceller = null;
    cancel?.(query)?.catch(() => {});
  } else {
    q.strings = ['select 1'];
    q.args = [];
  }
}

/** A transaction (or savepoint) under the watch; once given up on, its body does not start. */
function guardTransaction(
  open: (body: (tx: postgres.Sql) => Promise<unknown>) => Promise<unknown>,
  body: (tx: postgres.Sql) => unknown,
  watch: ReachabilityWatch,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let abandoned: DatabaseUnreachable | undefined;
    let op: ReturnType<ReachabilityWatch['track']>;
    try {
      op = watch.track((error) => {
        abandoned = error;
        reject(error);
      });
    } catch (error) {
      reject(error);
      return;
    }
    open(async (tx) => {
      if (abandoned) throw abandoned;
      return await body(tx);
    }).then(
      (result) => {
        op.settle(true);
        resolve(result);
      },
      (error: unknown) => {
        op.settle(answered(error));
        reject(error);
      },
    );
  });
}
