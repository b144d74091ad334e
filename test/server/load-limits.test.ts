import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import { errorOf, oneDriver, type RawResponse, rawRequest, useTestServer } from './harness.ts';

const KiB = 1024;

/** A push of `body` whose first `sent` bytes are written now; `rest()` sends the remainder. */
function slowPush(url: string, token: string, body: Buffer, sent: number) {
  const req = request(`${url}/trpc/snapshot.push`, {
    method: 'POST',
    agent: false,
    headers: {
      'content-type': 'application/json',
      'content-length': String(body.length),
      authorization: `Bearer ${token}`,
    },
  });
  const answer = new Promise<RawResponse>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          json: JSON.parse(text),
        });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
  });
  req.write(body.subarray(0, sent));
  return { answer, rest: () => req.end(body.subarray(sent)) };
}

/** A snapshot's JSON padded with spaces to `size` bytes: a valid push of a known length. */
function pushBody(size: number): Buffer {
  const json = JSON.stringify(fullSnapshot('web-07'));
  return Buffer.from(json.padEnd(size, ' '));
}

describe('bodies in flight past the server-wide budget', () => {
  const t = useTestServer(oneDriver(), {
    agentHost: 'web-07',
    env: {
      FLEETPMAP_MAX_BODY_BYTES: String(256 * KiB),
      FLEETPMAP_MAX_INFLATED_BYTES: String(256 * KiB),
      FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT: String(512 * KiB),
    },
  });

  it('answers 429 with Retry-After to the pushes that do not fit, and stores the admitted ones', async () => {
    // Six pushes of 200 KiB, each only started: two fit in 512 KiB, four do not.
    const pushes = Array.from({ length: 6 }, () =>
      slowPush(t.url, t.agentToken, pushBody(200 * KiB), 1024),
    );
    const answered: RawResponse[] = [];
    // Only the refused ones can be answered while every body is unfinished.
    await new Promise<void>((resolve) => {
      for (const p of pushes) {
        p.answer.then((r) => {
          answered.push(r);
          if (answered.length === 4) resolve();
        });
      }
    });
    for (const r of answered) {
      expect(r.status).toBe(429);
      expect(r.headers['retry-after']).toMatch(/^[1-5]$/);
      expect(errorOf(r).data).toMatchObject({
        code: 'TOO_MANY_REQUESTS',
        httpStatus: 429,
        retryable: true,
      });
      expect(errorOf(r).message).toMatch(/retry later/);
    }
    for (const p of pushes) p.rest();
    const all = await Promise.all(pushes.map((p) => p.answer));
    expect(all.map((r) => r.status).sort()).toEqual([200, 200, 429, 429, 429, 429]);
    expect(await t.server.database.storedSnapshotCount()).toBe(2);

    // Room again: the next push gets in.
    const next = slowPush(t.url, t.agentToken, pushBody(200 * KiB), 0);
    next.rest();
    expect((await next.answer).status).toBe(200);
    const metrics = (await rawRequest(t.url, { method: 'GET', path: '/metrics' })).text;
    expect(metrics).toMatch(/^fleetpmap_rejected_requests_total\{reason="bodies_in_flight"\} 4$/m);
  });
});

/** Sends a GET for `path` on an open socket and reads one answer: its status, or null if closed. */
async function getOver(
  socket: Socket,
  path: string,
): Promise<{ status: number; body: string } | null> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const onData = (c: Buffer) => {
      data = Buffer.concat([data, c]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString();
      const status = Number(head.split(' ')[1]);
      const rest = data.subarray(end + 4).toString();
      if (/transfer-encoding: *chunked/i.test(head)) {
        if (!rest.endsWith('0\r\n\r\n')) return;
        // Chunk sizes are hex on lines of their own: drop them, keep the chunks.
        done({ status, body: rest.replace(/(^|\r\n)[0-9a-f]+\r\n/g, '') });
        return;
      }
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (Buffer.byteLength(rest) < length) return;
      done({ status, body: rest.slice(0, length) });
    };
    const onClose = () => done(null);
    const done = (r: { status: number; body: string } | null) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(r);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', () => {});
    if (socket.destroyed) done(null);
    else socket.write(`GET ${path} HTTP/1.1\r\nhost: fleetpmap\r\n\r\n`);
  });
}

async function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

describe('connections past the cap of one address', () => {
  const t = useTestServer(oneDriver(), { env: { FLEETPMAP_MAX_CONNECTIONS_PER_ADDRESS: '20' } });

  it('closes the ones over the cap at once, while the connections held keep working', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 20; i++) held.push(await openSocket(t.url));
      for (const socket of held) expect((await getOver(socket, '/healthz'))?.status).toBe(200);

      const over = await openSocket(t.url);
      expect(await getOver(over, '/healthz')).toBeNull();

      expect((await getOver(held[0] as Socket, '/healthz'))?.status).toBe(200);
      const metrics = await getOver(held[1] as Socket, '/metrics');
      expect(metrics?.body).toMatch(
        /^fleetpmap_refused_connections_total\{cap="per_address"\} 1$/m,
      );

      // One given back: a new connection is served again (once the server has seen the close).
      const leaving = held.pop() as Socket;
      leaving.destroy();
      let again: { status: number } | null = null;
      for (let attempt = 0; again === null && attempt < 100; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20));
        const socket = await openSocket(t.url);
        again = await getOver(socket, '/healthz');
        socket.destroy();
      }
      expect(again?.status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });
});
