import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { Snapshot } from '@fleetpmap/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { createTrpcPushClient, parseRetryAfterMs } from './push.ts';

const snapshot = {
  schema: 'fleetpmap.snapshot/v1',
  snapshotId: '5b0c1e8e-3f0a-4a7e-9c39-2b1f1c7f6a10',
  takenAtMs: Date.UTC(2026, 0, 1),
  host: { name: 'h' },
  agent: { version: '1' },
  processes: [],
} as unknown as Snapshot;

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** An HTTP peer speaking tRPC's plain JSON envelope, answering as each test says. */
async function peer(answer: (res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text =
        req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
      seen.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(text) });
      answer(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function trpcError(res: ServerResponse, status: number, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: { message: `status ${status}`, code: -32600, data: {} } }));
}

describe('tRPC push client', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('posts the snapshot gzipped to snapshot.push with the bearer token', async () => {
    const p = await peer((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          result: { data: { snapshotId: snapshot.snapshotId, accepted: true, duplicate: true } },
        }),
      );
    });
    closers.push(p.close);
    const client = createTrpcPushClient({ server: `${p.url}/`, token: 'secret-token' });
    const out = await client.push(snapshot);
    expect(out).toMatchObject({ ok: true, duplicate: true });
    expect(out.wireBytes).toBeGreaterThan(0);
    expect(p.seen).toHaveLength(1);
    expect(p.seen[0]?.url).toBe('/trpc/snapshot.push');
    expect(p.seen[0]?.headers['content-encoding']).toBe('gzip');
    expect(p.seen[0]?.headers.authorization).toBe('Bearer secret-token');
    expect(p.seen[0]?.body).toEqual(snapshot);
  });

  it('marks 503 and 429 retryable with their Retry-After, other errors final', async () => {
    let status = 503;
    const p = await peer((res) => trpcError(res, status, { 'retry-after': '3' }));
    closers.push(p.close);
    const client = createTrpcPushClient({ server: p.url });
    expect(await client.push(snapshot)).toMatchObject({
      ok: false,
      retryable: true,
      status: 503,
      retryAfterMs: 3000,
    });
    // 429, and a proxy's 502 and 504, say nothing about the snapshot.
    for (status of [429, 502, 504]) {
      expect(await client.push(snapshot)).toMatchObject({ ok: false, retryable: true, status });
    }
    for (status of [400, 401, 403, 413, 415, 500]) {
      expect(await client.push(snapshot)).toMatchObject({ ok: false, retryable: false, status });
    }
  });

  it('passes on the field the server names in a refusal (403 host.name)', async () => {
    const p = await peer((res) => {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: {
            message: 'this agent token is bound to host "h8", not "h"',
            code: -32003,
            data: { code: 'FORBIDDEN', httpStatus: 403, retryable: false, field: 'host.name' },
          },
        }),
      );
    });
    closers.push(p.close);
    const out = await createTrpcPushClient({ server: p.url }).push(snapshot);
    expect(out).toMatchObject({ ok: false, retryable: false, status: 403, field: 'host.name' });
  });

  it('treats a non-JSON error page by its status', async () => {
    const p = await peer((res) => {
      res.writeHead(413, { 'content-type': 'text/plain' });
      res.end('too large');
    });
    closers.push(p.close);
    const out = await createTrpcPushClient({ server: p.url }).push(snapshot);
    expect(out).toMatchObject({ ok: false, retryable: false, status: 413 });
  });

  it('treats a refused connection as a retryable network failure', async () => {
    const p = await peer(() => {});
    await p.close();
    const out = await createTrpcPushClient({ server: p.url }).push(snapshot);
    expect(out.ok).toBe(false);
    expect(out).toMatchObject({ retryable: true });
    expect(out).not.toHaveProperty('status');
  });

  it('says the server did not answer in time, and stops at once when the agent stops', async () => {
    const p = await peer(() => {});
    closers.push(p.close);
    const client = createTrpcPushClient({ server: p.url, timeoutMs: 300 });
    const out = await client.push(snapshot);
    expect(out).toMatchObject({
      ok: false,
      retryable: true,
      message: 'server did not answer within 0.3 s',
    });
    expect(out).not.toHaveProperty('status');
    const stop = new AbortController();
    const slow = createTrpcPushClient({ server: p.url });
    const t0 = performance.now();
    const pushing = slow.push(snapshot, stop.signal);
    setTimeout(() => stop.abort(), 200);
    expect(await pushing).toMatchObject({
      ok: false,
      retryable: true,
      message: 'push stopped: the agent is stopping',
    });
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfterMs('120', now)).toBe(120_000);
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfterMs('soon', now)).toBeUndefined();
    expect(parseRetryAfterMs(null, now)).toBeUndefined();
  });
});
