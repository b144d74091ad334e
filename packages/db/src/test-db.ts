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
  const name = `fleetpmap_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } catch (e) {
    await admin.end({ timeout: 1 });
    throw new Error(
      `FLEETPMAP_TEST_DATABASE_URL is set but its server refused: ${(e as Error).message}`,
    );
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await createDb(url.toString(), { maxConnections: 4 });
  await migrate(handle);
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
