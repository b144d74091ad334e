import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { type SQLWrapper, sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { type Backend, DeadConnections } from './dead-connections.ts';
import { DatabaseUnreachable, ReachabilityWatch, responsiveDeadline } from './reachability.ts';
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
  /** postgres only: pool size (default 10) */
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
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new Error(`a Postgres pool needs at least 1 connection, got ${max}`);
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
      // No catalog query for array types on every new connection: nothing here reads or binds
      // Postgres arrays, and postgres.js leaves that query's failure unhandled when the
      // connection drops right after it opened (a restart, a failover), which ends the process.
      fetch_types: false,
      // The default (30 s) would let every request wait that long on a host that does not answer.
      connect_timeout: connectTimeoutS,
      // postgres.js waits up to 20 s between attempts after repeated failures; queries that come
      // after the database is back would wait as long. A second at most is plenty of politeness.
      backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 1),
      // TCP keepalive after 60 s idle (postgres.js's default, stated so that an upgrade keeps
      // it): a backstop that closes a connection whose peer vanished, after the system's probes
      // (Linux: 9 × 75 s), as long as nothing is left unacknowledged on it
      keep_alive: 60,
      // Unnamed statements only, whatever the URL says. drizzle already sends its queries so;
      // this covers the driver's own (the checks' queries). Behind PgBouncer in transaction mode
      // a statement named on one server connection is unknown on the next
      // (https://github.com/porsager/postgres#prepared-statements).
      prepare: false,
    };
    // The pool in use. A pool one of whose connections was found dead (see `DeadConnections`) is
    // replaced by a new one, since postgres.js can neither close one connection from outside nor
    // stop handing it queries; the old pool is ended once the work still running on it is over.
    const pools = new Set<Pool>();
    let first: postgres.Sql | undefined;
    let closed = false;
    // Each pool names its connections (`application_name`), so that what the database shows of
    // a pid can be told to be one of this pool's connections, not another's with that pid.
    // The URL's own application_name would override the tag: it becomes the tag's beginning.
    const { url: poolUrl, name: appName } = withoutApplicationName(url);
    const tagBase = Buffer.from(appName ?? 'fleetpmap')
      .subarray(0, 40)
      .toString();
    const handleId = randomBytes(4).toString('hex');
    let poolCount = 0;
    const openPool = (): Pool => {
      // at most 63 bytes, what Postgres keeps of a name
      const tag = `${tagBase} ${handleId}.${++poolCount}`;
      const sql = postgres(poolUrl, {
        ...options,
        max,
        connection: { application_name: tag },
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
      // drizzle changes the parsers of the client it is given (dates as strings, ...), which is
      // the first pool: the pools after it must read and write values the same way
      if (first) {
        Object.assign(sql.options.parsers, first.options.parsers);
        Object.assign(sql.options.serializers, first.options.serializers);
      }
      first ??= sql;
      const pool = { sql, tag, running: 0, retired: false };
      pools.add(pool);
      return pool;
    };
    let current = openPool();
    const workOn = (pool: Pool) => {
      pool.running++;
      let over = false;
      return () => {
        if (over) return;
        over = true;
        pool.running--;
        if (pool.retired && pool.running === 0 && pools.delete(pool)) {
          // what is left are dead connections, and queries given up on
          void pool.sql.end({ timeout: 0 }).catch(() => {});
        }
      };
    };
    const retire = (dead: Set<Backend>, poolOf: Map<Backend, Pool>) => {
      if (closed) return () => false;
      const hit = new Set([...dead].map((backend) => poolOf.get(backend)));
      for (const pool of hit) {
        if (!pool || pool.retired) continue;
        pool.retired = true;
        if (pool === current) current = openPool();
        // nothing watched runs on it any more (it settled while the check looked): end it now,
        // since no `workOn` will come to
        if (pool.running === 0 && pools.delete(pool)) {
          void pool.sql.end({ timeout: 0 }).catch(() => {});
        }
      }
      // the queries on those connections, and all that waited in those pools for a connection
      // (behind dead ones, which stay busy until the pool ends)
      return (place: Place) => {
        if (!hit.has(place.pool)) return false;
        const backend = place.backend();
        return backend === null || (backend !== undefined && dead.has(backend));
      };
    };

    // The reachability check runs on a connection of its own, so that it never queues behind
    // the pool's work; it is dropped after a failure and opened anew at the next check.
    let probe: postgres.Sql | undefined;
    const deadConnections = new DeadConnections();
    // With several hosts in the URL, the probe may be on another server than a pool connection,
    // and find none of its backends.
    const oneServer = current.sql.options.host.length === 1;
    const check = async (suspects: readonly Place[]) => {
      if (closed) return undefined;
      probe ??= postgres(poolUrl, {
        ...options,
        max: 1,
        idle_timeout: 30,
        connection: { application_name: `${tagBase} ${handleId}.check` },
      });
      const sql = probe;
      // the connections single queries have waited on for long (a transaction's connection sits
      // idle between its queries: it tells nothing)
      const waitedOn = new Map<Backend, Pool>();
      for (const place of suspects) {
        const backend = place.query ? place.backend() : undefined;
        if (oneServer && typeof backend?.pid === 'number') waitedOn.set(backend, place.pool);
      }
      let cancelDeadline: (() => void) | undefined;
      try {
        const dead = await Promise.race([
          waitedOn.size > 0
            ? deadConnections.find(
                sql,
                [...waitedOn.keys()],
                (backend) => waitedOn.get(backend)?.tag ?? '',
              )
            : sql`select 1`.then(() => new Set<Backend>()),
          // time this process was too busy to read the answer does not count (a big result
          // decoded in one go would otherwise have the database called unreachable)
          new Promise<never>((_, reject) => {
            cancelDeadline = responsiveDeadline(connectTimeoutS * 1000 + 1000, () =>
              reject(new DatabaseUnreachable()),
            );
          }),
        ]);
        return dead.size > 0 ? retire(dead, waitedOn) : undefined;
      } catch (error) {
        if (answeredAlive(error)) return undefined;
        if (probe === sql) probe = undefined;
        void sql.end({ timeout: 0 }).catch(() => {});
        throw error;
      } finally {
        cancelDeadline?.();
      }
    };
    const watch: Watch = new ReachabilityWatch({ stallMs, check });
    const client = guardClient(
      current.sql,
      () => ({ sql: current.sql, pool: current, workOn }),
      watch,
    );
    const db = drizzlePostgres({ client, schema }) as unknown as Db;
    const close = async () => {
      closed = true;
      watch.close();
      await Promise.all([
        ...[...pools].map((pool) => pool.sql.end({ timeout: 5 })),
        probe?.end({ timeout: 0 }),
      ]);
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
 * and all but one fail on `CREATE TABLE` or `CREATE SCHEMA` racing in the catalog. So the whole
 * of it, drizzle's bookkeeping table included, runs in one transaction that first takes a
 * transaction-level advisory lock: the first replica applies, the others wait and then find
 * nothing left to do. Nothing of it outlives the transaction, which is what lets it run behind
 * PgBouncer in transaction pooling mode: there a session-level lock stays on whichever server
 * connection ran the statement, and the unlock may go to another (docs/server.md, "Behind
 * PgBouncer").
 *
 * The steps are drizzle's own migrator's (`PgDialect.migrate`, drizzle-orm 0.45), with the same
 * table, so that a database migrated by either carries on with the other.
 */
export async function migrate(handle: DbHandle): Promise<void> {
  const config = { migrationsFolder: MIGRATIONS_DIR };
  if (handle.driver !== 'postgres') {
    await migratePglite(handle.db as never, config);
    return;
  }
  const migrations = readMigrationFiles(config);
  await handle.db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.execute(sql`create schema if not exists drizzle`);
    await tx.execute(sql`
      create table if not exists drizzle.__drizzle_migrations (
        id serial primary key,
        hash text not null,
        created_at bigint
      )`);
    const [last] = await queryRows<{ createdAt: number | string | null }>(
      tx,
      sql`select created_at as "createdAt" from drizzle.__drizzle_migrations
          order by created_at desc limit 1`,
    );
    for (const migration of migrations) {
      // drizzle's rule: what is newer than the newest applied migration (the journal's `when`)
      if (last && Number(last.createdAt) >= migration.folderMillis) continue;
      for (const statement of migration.sql) await tx.execute(sql.raw(statement));
      await tx.execute(sql`
        insert into drizzle.__drizzle_migrations (hash, created_at)
        values (${migration.hash}, ${migration.folderMillis})`);
    }
  });
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

/** `url` without its `application_name` parameter, and that name (decoded) if it had one. */
export function withoutApplicationName(url: string): { url: string; name: string | undefined } {
  const q = url.indexOf('?');
  if (q < 0) return { url, name: undefined };
  let name: string | undefined;
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter((part) => {
      const [key = '', value = ''] = part.split('=');
      if (decodeURIComponent(key) !== 'application_name') return true;
      name = decodeURIComponent(value.replaceAll('+', ' '));
      return false;
    });
  return { url: kept.length > 0 ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q), name };
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

/**
 * The fields of a postgres.js query that its typings do not show. These, and `state.pid` (see
 * `Backend`), are all this file relies on of postgres.js's insides: check them on an upgrade.
 */
type DriverQuery = {
  /** the backend it was handed to (its connection's record); null while it waits for one */
  state: Backend | null;
  strings: string[];
  args: unknown[];
  canceller: ((query: unknown) => Promise<void>) | null;
};

/** One postgres.js pool, and the watched work still running on it. */
interface Pool {
  readonly sql: postgres.Sql;
  /** the `application_name` of its connections */
  readonly tag: string;
  /** operations issued on it that have neither settled nor been given up */
  running: number;
  /** replaced after one of its connections was found dead; ended once `running` is 0 */
  retired: boolean;
}

/** Where a watched operation runs (its place for `ReachabilityWatch`). */
interface Place {
  pool: Pool;
  /**
   * the backend of its connection: null while it waits for a connection, undefined when that is
   * not known (a transaction whose body has sent no query yet)
   */
  backend(): Backend | null | undefined;
  /** a single query, waiting for its answer all along (a transaction waits on its body too) */
  query: boolean;
}

type Watch = ReachabilityWatch<Place>;

/** What a transaction knows of its connection: a query of its own that was handed to it. */
type TransactionConnection = { query?: DriverQuery; started: boolean };

/** Where guarded calls go: the pool in use at each call, or one transaction's connection. */
type Target = {
  sql: postgres.Sql;
  pool: Pool;
  /** counts an operation as running on `pool`; the function returned says it is over */
  workOn(pool: Pool): () => void;
  transaction?: TransactionConnection;
};

/**
 * The pool as drizzle uses it (`unsafe`, `begin`, `savepoint`, `options`), with every query and
 * transaction watched by `watch`: given up on when the database stops answering, or its
 * connection is found dead (see `reachability.ts`). `shape` is any pool, for the proxy's shape.
 */
function guardClient(shape: postgres.Sql, target: () => Target, watch: Watch): postgres.Sql {
  return new Proxy(shape, {
    get(_, prop) {
      const to = target();
      const { sql } = to;
      if (prop === 'unsafe') {
        return (...args: Parameters<postgres.Sql['unsafe']>) =>
          guardQuery(sql.unsafe(...args), to, watch);
      }
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.Sql) => unknown;
          const open = (sql as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
            prop
          ] as (...a: unknown[]) => Promise<unknown>;
          // a savepoint is on the connection of its transaction
          const connection = to.transaction ?? { started: false };
          return guardTransaction(
            (body) => open.call(sql, ...args, body),
            (tx) => fn(guardClient(tx, () => ({ ...to, sql: tx, transaction: connection }), watch)),
            { ...to, transaction: connection },
            watch,
          );
        };
      }
      const value = Reflect.get(sql, prop, sql);
      return typeof value === 'function' ? value.bind(sql) : value;
    },
  });
}

/** Whether a failure carries an answer of the database (a result or an error of its own). */
function answered(error: unknown): boolean {
  return error instanceof postgres.PostgresError;
}

/** A query that runs (lazily, as postgres.js queries do) under the watch. */
function guardQuery<T extends PromiseLike<unknown>>(query: T, target: Target, watch: Watch): T {
  const driverQuery = query as unknown as DriverQuery;
  // A statement of a transaction waits for the transaction's connection, not for one of the
  // pool's: it is on that connection's backend (unknown until the transaction's first statement
  // is handed to it), never "waiting for a connection" to be given up with its pool.
  const inTransaction = target.transaction;
  const place: Place = {
    pool: target.pool,
    backend: () =>
      driverQuery.state ?? (inTransaction ? (inTransaction.query?.state ?? undefined) : null),
    query: true,
  };
  let outcome: Promise<unknown> | undefined;
  const run = () => {
    outcome ??= new Promise((resolve, reject) => {
      let op: ReturnType<Watch['track']>;
      let over: () => void = () => {};
      try {
        op = watch.track((error) => {
          reject(error);
          abandon(query);
          over();
        }, place);
      } catch (error) {
        reject(error); // never handed to the driver
        return;
      }
      over = target.workOn(target.pool);
      if (target.transaction) target.transaction.query ??= driverQuery;
      query.then(
        (rows) => {
          op.settle(true);
          over();
          resolve(rows);
        },
        (error: unknown) => {
          op.settle(answered(error));
          over();
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
  target: Target & { transaction: TransactionConnection },
  watch: Watch,
): Promise<unknown> {
  const connection = target.transaction;
  const place: Place = {
    pool: target.pool,
    backend: () => connection.query?.state ?? (connection.started ? undefined : null),
    query: false,
  };
  return new Promise((resolve, reject) => {
    let abandoned: DatabaseUnreachable | undefined;
    let op: ReturnType<Watch['track']>;
    let over: () => void = () => {};
    try {
      op = watch.track((error) => {
        abandoned = error;
        reject(error);
        over();
      }, place);
    } catch (error) {
      reject(error);
      return;
    }
    over = target.workOn(target.pool);
    open(async (tx) => {
      if (abandoned) throw abandoned;
      connection.started = true;
      return await body(tx);
    }).then(
      (result) => {
        op.settle(true);
        over();
        resolve(result);
      },
      (error: unknown) => {
        op.settle(answered(error));
        over();
        reject(error);
      },
    );
  });
}
