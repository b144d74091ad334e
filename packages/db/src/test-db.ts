import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { createDb, type DbHandle, migrate } from './client.ts';

export type TestDriver = 'pglite' | 'postgres';

/**
 * The drivers a database test suite runs on: PGlite always, plus real Postgres when
 * FLEETPMAP_TEST_DATABASE_URL is set (CI sets it; an unreachable server then fails the tests).
 */
export function testDrivers(env: NodeJS.ProcessEnv = process.env): TestDriver[] {
  return env.FLEETPMAP_TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestDb extends DbHandle, AsyncDisposable {
  /** the database URL (postgres) or `memory://` (PGlite) */
  url: string;
}

/**
 * A fresh, migrated database: in-memory PGlite, or a newly created database (unique name) on
 * the server of FLEETPMAP_TEST_DATABASE_URL, dropped again on dispose.
 */
export async function createTestDb(
  driver: TestDriver = 'pglite',
  env: NodeJS.ProcessEnv = process.env,
): Promise<TestDb> {
  if (driver === 'pglite') {
    const handle = await createDb(undefined, { dataDir: 'memory://' });
    await migrate(handle);
    return { ...handle, url: 'memory://', [Symbol.asyncDispose]: () => handle.close() };
  }
  const adminUrl = env.FLEETPMAP_TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('FLEETPMAP_TEST_DATABASE_URL is not set');
  let scratch: ScratchDb;
  try {
    scratch = await createScratchDb(adminUrl, { prefix: `fleetpmap_test_${process.pid}` });
  } catch (e) {
    throw new Error(
      `FLEETPMAP_TEST_DATABASE_URL is set but its server refused: ${(e as Error).message}`,
    );
  }
  await migrate(scratch);
  return scratch;
}

export interface ScratchDb extends DbHandle, AsyncDisposable {
  /** the new database's URL */
  url: string;
}

/**
 * A new, empty database with a unique name on the Postgres server of `adminUrl` (not migrated),
 * dropped again on dispose: for tests and benchmarks that must never share a database.
 */
export async function createScratchDb(
  adminUrl: string,
  opts: { prefix?: string; maxConnections?: number } = {},
): Promise<ScratchDb> {
  const name = `${opts.prefix ?? 'fleetpmap_scratch'}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } catch (e) {
    await admin.end({ timeout: 1 });
    throw e;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await createDb(url.toString(), { maxConnections: opts.maxConnections ?? 4 });
  return {
    ...handle,
    url: url.toString(),
    [Symbol.asyncDispose]: async () => {
      await handle.close();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end({ timeout: 5 });
    },
  };
}

/** The Postgres server benchmarks create their scratch databases on. */
export function benchAdminUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (
    env.FLEETPMAP_BENCH_DATABASE_URL ??
    env.FLEETPMAP_TEST_DATABASE_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres'
  );
}
