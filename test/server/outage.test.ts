import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import {
  createPostgresDatabase,
  errorOf,
  postgresAdminUrl,
  rawRequest,
  useTestServer,
} from './harness.ts';

/**
 * A TCP proxy on loopback in front of the real Postgres: `cut()` drops every connection and
 * refuses new ones, as a database host that went away would; `restore()` listens again.
 */
async function createProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = createConnection(target);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    async cut() {
      const closed = new Promise((resolve) => server?.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: listen,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      if (server?.listening) await new Promise((resolve) => server?.close(resolve));
    },
  };
}

const adminUrl = postgresAdminUrl('the database outage test');

describe.skipIf(!adminUrl)('Postgres unreachable', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
  let proxy: Awaited<ReturnType<typeof createProxy>>;

  beforeAll(async () => {
    database = await createPostgresDatabase(adminUrl as string);
    const direct = new URL(database.url);
    proxy = await createProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
  });
  // Registered before the server's, so it runs after the server stopped.
  afterAll(async () => {
    await proxy?.[Symbol.asyncDispose]();
    await database?.[Symbol.asyncDispose]();
  });
  const t = useTestServer(
    () => {
      const viaProxy = new URL(database.url);
      viaProxy.port = String(proxy.port);
      return { name: 'postgres-url', url: viaProxy.toString() };
    },
    { agentHost: 'web-07' },
  );

  const push = (snapshot = fullSnapshot()) =>
    rawRequest(t.url, {
      path: '/trpc/snapshot.push',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.agentToken}` },
      body: JSON.stringify(snapshot),
    });

  it('answers 503 while the database is gone and recovers without a restart', {
    timeout: 120_000,
  }, async () => {
    expect((await push()).status).toBe(200);
    // A token the server has not seen yet: during the outage it is looked up before the body.
    const unseen = (await t.client(t.adminToken).token.create.mutate({ role: 'reader' })).token;

    await proxy.cut();
    const lost = fullSnapshot();
    for (let i = 0; i < 3; i++) {
      const r = await push(lost);
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBeDefined();
      expect(errorOf(r).data).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryable: true });
      expect(errorOf(r).message).toBe('database unavailable, retry later');
    }
    const unseenPush = await rawRequest(t.url, {
      path: '/trpc/snapshot.push',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${unseen}` },
      body: JSON.stringify(lost),
    });
    expect(unseenPush.status).toBe(503);
    expect(unseenPush.headers['retry-after']).toBeDefined();
    expect(errorOf(unseenPush).data).toMatchObject({ retryable: true });
    const list = await rawRequest(t.url, {
      method: 'GET',
      path: '/trpc/host.list',
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    expect(list.status).toBe(503);
    const notReady = await rawRequest(t.url, { method: 'GET', path: '/readyz' });
    expect(notReady.status).toBe(503);
    // Anyone may ask /readyz: it says what is wrong, not the driver's text (addresses, ports).
    expect(notReady.json).toEqual({ ready: false, detail: 'database unavailable' });
    expect(notReady.text).not.toContain(String(proxy.port));
    expect((await rawRequest(t.url, { method: 'GET', path: '/healthz' })).status).toBe(200);

    await proxy.restore();
    const retried = await push(lost);
    expect(retried.status).toBe(200);
    expect(retried.json).toMatchObject({ result: { data: { duplicate: false } } });
    expect((await push(lost)).json).toMatchObject({ result: { data: { duplicate: true } } });
    expect((await rawRequest(t.url, { method: 'GET', path: '/readyz' })).status).toBe(200);
    expect(await t.server.database.storedSnapshotCount()).toBe(2);
    const metrics = (await rawRequest(t.url, { method: 'GET', path: '/metrics' })).text;
    // every 503 of the outage counted as the database's, the one before the body included
    const count = (re: RegExp) => Number(re.exec(metrics)?.[1]);
    const unavailable = count(/^fleetpmap_database_errors_total\{kind="unavailable"\} (\d+)$/m);
    expect(unavailable).toBe(5); // 4 pushes and host.list
    expect(metrics).toMatch(/^fleetpmap_rejected_requests_total\{reason="not_ready"\} 1$/m);
    expect(unavailable).toBe(
      count(/^fleetpmap_rejected_requests_total\{reason="database_unavailable"\} (\d+)$/m),
    );
  });
});
