import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createDb } from './client.ts';
import { withoutQueryParams } from './query-errors.ts';

describe('withoutQueryParams', () => {
  it('leaves the parameters out of a failed query as logged, and keeps its SQL and code', async () => {
    const handle = await createDb(undefined, { dataDir: 'memory://' });
    const secret = 'b1946ac92492d2347c6235b4d2611184-token-hash';
    let failure: unknown;
    try {
      await handle.db.execute(sql`select ${secret} as t, 1 / 0 as n`);
    } catch (error) {
      failure = error;
    } finally {
      await handle.close();
    }
    expect(String((failure as Error).message)).toContain(secret); // as drizzle throws it

    withoutQueryParams(failure);
    // What a logger writes of an error: message and stack of each error of the cause chain, and
    // the enumerable fields.
    const logged: string[] = [];
    for (let e = failure as Error | undefined; e; e = e.cause as Error | undefined) {
      logged.push(e.message, e.stack ?? '', JSON.stringify({ ...e }));
    }
    const text = logged.join('\n');
    expect(text).not.toContain(secret);
    expect(text).not.toContain('params');
    expect(text).toContain('Failed query: select $1 as t, 1 / 0 as n');
    expect(text).toContain('division by zero');
    expect(text).toContain('22012');
  });
});
