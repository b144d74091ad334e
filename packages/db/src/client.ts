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
}

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
    const client = postgres(url, {
      max,
      onnotice: () => {},
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
    const db = drizzlePostgres({ client, schema }) as unknown as Db;
    postgresClients.set(db, client);
    return { db, driver: 'postgres', close: () => client.end({ timeout: 5 }) };
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
