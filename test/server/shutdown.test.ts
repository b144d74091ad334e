import { once } from 'node:events';
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, startServer } from '@fleetpmap/server';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { until } from '../support/until.ts';
import { fullSnapshot } from './corpus.ts';
import {
  createClient,
  createPostgresDatabase,
  oneDriver,
  postgresAdminUrl,
  startTestServer,
} from './harness.ts';

const adminUrl = postgresAdminUrl('the shutdown test: two servers share one database');

/** A webhook receiver that answers only when told to: until then each request hangs. */
async function hangingReceiver() {
  const held: ServerResponse[] = [];
  const bodies: string[] = [];
  let answering = false;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      bodies.push(body);
      if (answering) res.writeHead(200).end();
      else held.push(res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    answer() {
      answering = true;
    },
    async [Symbol.asyncDispose]() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

describe.skipIf(!adminUrl)('shutting down with a webhook delivery in flight', () => {
  it('stops listening at once, cuts the delivery short, and another replica delivers it', {
    timeout: 90_000,
  }, async () => {
    await using receiver = await hangingReceiver();
    await using database = await createPostgresDatabase(adminUrl ?? '');
    const env = { FLEETPMAP_REPORT_WEBHOOK_URL: receiver.url, FLEETPMAP_REPORT_TICK_MS: '100' };
    const first = await startTestServer({ name: 'postgres-url', url: database.url }, env);
    try {
      const admin = first.client(first.adminToken);
      const made = await admin.report.run.mutate({ windowMs: 3_600_000, deliver: true });
      await until('the delivery to reach the receiver', () => receiver.bodies.length === 1, 20_000);

      const started = Date.now();
      const closing = first.server.close();
      // No new connection once the shutdown began: a load balancer moves on at once.
      await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();
      await closing;
      // The webhook's own limit is 10 s; the shutdown did not wait for it.
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(receiver.bodies).toHaveLength(1);

      receiver.answer();
      // A replica that stays up: the same database, the same admin token.
      const config = loadConfig(
        { dataDir: first.dataDir, listen: '127.0.0.1:0', database: database.url },
        { ...env, FLEETPMAP_LOG_LEVEL: 'silent', FLEETPMAP_REPORT_SCHEDULE: 'off' },
      );
      await using second = await startServer(config, pino({ level: 'silent' }));
      const reader = createClient(second.url, first.adminToken);
      await until(
        'the second server to deliver the report',
        async () => {
          const [listed] = await reader.report.list.query({ limit: 1 });
          return listed?.delivery === 'delivered';
        },
        20_000,
      );
      const [listed] = await reader.report.list.query({ limit: 1 });
      expect(listed).toMatchObject({ id: made.id, delivery: 'delivered', deliveryAttempts: 2 });
      expect(receiver.bodies).toHaveLength(2);
      expect(JSON.parse(receiver.bodies[1] ?? '{}')).toMatchObject({ id: made.id });
    } finally {
      await first[Symbol.asyncDispose]();
    }
  });
});

describe('shutting down with clients on kept-alive connections', () => {
  it('answers what was asked, closes each connection after its answer, and stops well within the drain', {
    timeout: 60_000,
  }, async () => {
    const server = await startTestServer(oneDriver());
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    type Answer = { status: number; connection: string | undefined } | { error: string };
    /** One request on a kept-alive connection; `body` is sent in two halves around `between`. */
    const ask = (path: string, body?: string, between?: () => Promise<void>) =>
      new Promise<Answer>((resolve) => {
        const req = request(
          `${server.url}${path}`,
          {
            agent,
            method: body === undefined ? 'GET' : 'POST',
            headers: {
              authorization: `Bearer ${server.adminToken}`,
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
            );
          },
        );
        req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
        if (body === undefined) req.end();
        else {
          req.write(body.slice(0, 100));
          // Once the server has the headers and is waiting for the rest of the body.
          const wait = new Promise((r) => setTimeout(r, 300));
          void wait.then(() => between?.()).then(() => req.end(body.slice(100)));
        }
      });
    try {
      // One client asks back to back, as an agent replaying its spool does; another is halfway
      // through sending a push when the shutdown begins.
      const answers: Answer[] = [];
      const looping = (async () => {
        for (let i = 0; i < 5_000; i++) {
          const answer = await ask('/trpc/host.list');
          answers.push(answer);
          if ('error' in answer) break;
        }
      })();
      while (answers.length < 20) await new Promise((r) => setTimeout(r, 5));
      let closing: Promise<void> | undefined;
      let started = 0;
      let before = 0;
      const push = ask('/trpc/snapshot.push', JSON.stringify(fullSnapshot()), async () => {
        before = answers.length;
        started = Date.now();
        closing = server.server.close();
        await new Promise((r) => setTimeout(r, 200));
      });
      // the push, begun before the shutdown, is answered, and its connection closed after it
      expect(await push).toMatchObject({ status: 200, connection: 'close' });
      await closing;
      const closeMs = Date.now() - started;
      await looping;
      // Before, the busy connection was served until the 10 s drain cut it, mid-request.
      expect(closeMs).toBeLessThan(5_000);
      const after = answers.slice(before);
      expect(after.filter((a) => 'status' in a).length).toBeLessThanOrEqual(1);
      expect(after.filter((a) => 'status' in a && a.status !== 200)).toEqual([]);
      expect(['ECONNREFUSED', 'ECONNRESET']).toContain((after.at(-1) as { error: string }).error);
    } finally {
      agent.destroy();
      await server[Symbol.asyncDispose]();
    }
  });
});
