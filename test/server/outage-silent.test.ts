import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFaultyProxy, type FaultyProxy } from '../../packages/db/src/test-proxy.ts';
import { fullSnapshot } from './corpus.ts';
import {
  createPostgresDatabase,
  errorOf,
  postgresAdminUrl,
  rawRequest,
  useTestServer,
} from './harness.ts';

const adminUrl = postgresAdminUrl('the silent database test');

describe.skipIf(!adminUrl)('Postgres gone silent', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let proxy: FaultyProxy;

  beforeAll(async () => {
    database = await createPostgresDatabase(adminUrl as string);
    const direct = new URL(database.url);
    proxy = await createFaultyProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  });
  // Registered before the server's, so it runs after the server stopped.
  afterAll(async () => {
    await proxy?.restore();
    await proxy?.[Symbol.asyncDispose]();
    await database?.[Symbol.asyncDispose]();
  });
  const t = useTestServer(() => ({ name: 'postgres-url', url: proxy.via(database.url) }), {
    agentHost: 'web-07',
  });

  const push = (snapshot = fullSnapshot()) =>
    rawRequest(t.url, {
      path: '/trpc/snapshot.push',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.agentToken}` },
      body: JSON.stringify(snapshot),
    });
  const listHosts = () =>
    rawRequest(t.url, {
      method: 'GET',
      path: '/trpc/host.list',
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
  const timed = async <T>(work: Promise<T>) => {
    const started = performance.now();
    const value = await work;
    return { value, ms: performance.now() - started };
  };

  it('answers 503 within seconds, not after the CLI gave up, and 200 once it answers again', {
    timeout: 120_000,
  }, async () => {
    expect((await push()).status).toBe(200);
    expect((await listHosts()).status).toBe(200);

    proxy.hang();
    // A token verified a moment ago is cached: these reach the database for their own queries.
    const read = await timed(listHosts());
    expect(read.value.status).toBe(503);
    expect(errorOf(read.value).data).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    // Before: no answer at all; the CLI gives up after 60 s.
    expect(read.ms).toBeLessThan(15_000);
    const pushed = await timed(push());
    expect(pushed.value.status).toBe(503);
    expect(pushed.value.headers['retry-after']).toBeDefined();
    expect(pushed.ms).toBeLessThan(15_000);

    await proxy.restore();
    const started = performance.now();
    let status = 0;
    while (performance.now() - started < 20_000) {
      status = (await listHosts()).status;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe(200);
    expect((await push()).status).toBe(200);
    const metrics = (await rawRequest(t.url, { method: 'GET', path: '/metrics' })).text;
    // the two answers above, and any while the server had not yet seen it back
    expect(metrics).toMatch(
      /^fleetpmap_database_errors_total\{kind="unavailable"\} ([2-9]|\d{2,})$/m,
    );
  });
});
