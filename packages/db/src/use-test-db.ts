import { afterAll, beforeAll } from 'vitest';
import type { Db } from './client.ts';
import { createTestDb, type TestDb, type TestDriver } from './test-db.ts';

/**
 * A fresh database for one `describe` block: opened before its tests, dropped after them. Only
 * for test files (it registers vitest hooks); `t.db` is valid inside the tests and hooks.
 */
export function useTestDb(driver: TestDriver): { readonly db: Db; readonly handle: TestDb } {
  let handle: TestDb | undefined;
  beforeAll(async () => {
    handle = await createTestDb(driver);
  }, 120_000);
  afterAll(async () => {
    await handle?.[Symbol.asyncDispose]();
  });
  const open = () => {
    if (!handle) throw new Error('the test database is opened in beforeAll; use it in a test');
    return handle;
  };
  return {
    get db() {
      return open().db;
    },
    get handle() {
      return open();
    },
  };
}
