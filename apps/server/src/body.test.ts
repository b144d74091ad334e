import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BodyError, createBodyBudget, readBody } from './body.ts';

const limits = { maxBodyBytes: 64 * 1024, maxInflatedBytes: 256 * 1024 };
let lastError: BodyError | undefined;
const server = createServer((req, res) => {
  readBody(req, limits).then(
    (body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ length: body.text.length, wire: body.wireBytes }));
    },
    (error: BodyError) => {
      lastError = error;
      res.writeHead(error.status, { connection: 'close' });
      res.end(error.reason);
    },
  );
});
let port = 0;

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
});

function post(
  body: Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
      );
    });
    // The server may answer and close before it has read everything we send.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    req.end(body);
  });
}

describe('readBody', () => {
  it('inflates a gzip body and counts wire bytes', async () => {
    const json = Buffer.from(JSON.stringify({ a: 'x'.repeat(10_000) }));
    const packed = gzipSync(json);
    const r = await post(packed, { 'content-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ length: json.length, wire: packed.length });
  });

  it('refuses a gzip bomb after inflating no more than the cap plus one chunk', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    expect(bomb.length).toBeLessThan(limits.maxBodyBytes);
    const r = await post(bomb, { 'content-encoding': 'gzip' });
    expect(r).toEqual({ status: 413, text: 'inflated_too_large' });
    expect(lastError?.inflatedBytes).toBeLessThanOrEqual(limits.maxInflatedBytes + 64 * 1024);
  });

  it('refuses an oversized body by Content-Length and by counting a chunked one', async () => {
    const big = Buffer.alloc(limits.maxBodyBytes + 1, 0x20);
    expect((await post(big, {})).status).toBe(413);
    expect((await post(big, { 'transfer-encoding': 'chunked' })).status).toBe(413);
  });

  it('answers 400 for truncated or corrupt gzip and 415 for other encodings', async () => {
    const packed = gzipSync(Buffer.from('{"a":1}'));
    expect(
      (await post(packed.subarray(0, packed.length - 6), { 'content-encoding': 'gzip' })).status,
    ).toBe(400);
    expect(
      (await post(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })).status,
    ).toBe(400);
    for (const encoding of ['br', 'deflate', 'compress', 'gzip, br', 'zstd']) {
      const r = await post(packed, { 'content-encoding': encoding });
      expect(r, encoding).toEqual({ status: 415, text: 'unsupported_encoding' });
    }
  });
});

describe('readBody under a budget of bodies in flight', () => {
  const budgetLimits = { maxBodyBytes: 512 * 1024, maxInflatedBytes: 512 * 1024 };
  const budget = createBodyBudget(256 * 1024);
  const budgeted = createServer((req, res) => {
    readBody(req, budgetLimits, budget).then(
      (body) => {
        res.once('close', body.ticket.release);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ length: body.text.length }));
      },
      (error: BodyError) => {
        res.writeHead(error.status, { connection: 'close' });
        res.end(error.reason);
      },
    );
  });
  let budgetPort = 0;
  beforeAll(async () => {
    budgeted.listen(0, '127.0.0.1');
    await once(budgeted, 'listening');
    budgetPort = (budgeted.address() as AddressInfo).port;
  });
  afterAll(() => {
    budgeted.closeAllConnections();
    budgeted.close();
  });

  /** A POST whose body is written now only up to `sent` bytes; `rest()` sends the remainder. */
  function open(body: Buffer, sent: number, headers: Record<string, string> = {}) {
    const req = request({
      port: budgetPort,
      host: '127.0.0.1',
      method: 'POST',
      headers: { 'content-length': String(body.length), ...headers },
    });
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
      });
    });
    req.write(body.subarray(0, sent));
    return { answer, rest: () => req.end(body.subarray(sent)) };
  }

  /** Resolves once the budget counts `n` bodies in flight. */
  async function untilInFlight(n: number): Promise<void> {
    while (budget.bodies !== n) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  it('refuses with 429, unread, the bodies that do not fit, and finishes the ones admitted', async () => {
    const body = Buffer.alloc(100 * 1024, 0x20);
    const first = open(body, 1024);
    const second = open(body, 1024);
    await untilInFlight(2);
    // 200 KiB reserved of 256 KiB: the third does not fit, and is answered while the others wait.
    const third = open(body, 1024);
    expect(await third.answer).toEqual({ status: 429, text: 'bodies_in_flight' });
    first.rest();
    second.rest();
    expect(await first.answer).toEqual({ status: 200, text: '{"length":102400}' });
    expect(await second.answer).toEqual({ status: 200, text: '{"length":102400}' });
    await untilInFlight(0);
    expect(budget.inFlight).toBe(0);
  });

  it('always admits one body at the per-request maximum when nothing else is in flight', async () => {
    const body = Buffer.alloc(budgetLimits.maxBodyBytes, 0x20);
    const alone = open(body, body.length);
    alone.rest();
    expect((await alone.answer).status).toBe(200);
  });

  it('holds back, but does not cut, a gzip body that inflates past the budget', async () => {
    const older = open(Buffer.alloc(200 * 1024, 0x20), 1024);
    await untilInFlight(1);
    // 2 KiB on the wire fits; inflated to 200 KiB it does not, so it waits for the older body.
    const packed = gzipSync(Buffer.alloc(200 * 1024, 0x20));
    const newer = open(packed, packed.length, { 'content-encoding': 'gzip' });
    newer.rest();
    const order: string[] = [];
    const answers = [older, newer].map((p, i) =>
      p.answer.then((r) => {
        order.push(i === 0 ? 'older' : 'newer');
        return r;
      }),
    );
    await untilInFlight(2);
    older.rest();
    expect((await Promise.all(answers)).map((r) => r.status)).toEqual([200, 200]);
    expect(order).toEqual(['older', 'newer']);
    expect((await answers[1])?.text).toBe('{"length":204800}');
  });

  it('takes no share for a client gone before its body was asked for', async () => {
    const own = createBodyBudget(256 * 1024);
    const outcomes: string[] = [];
    // As the server does: the token is looked up first (here 100 ms), then the body is read.
    const slowStart = createServer((req, res) => {
      setTimeout(() => {
        readBody(req, { ...budgetLimits, idleTimeoutMs: 10_000 }, own).then(
          (body) => {
            body.ticket.release();
            res.end();
          },
          (error: BodyError) => {
            outcomes.push(error.reason);
            res.destroy();
          },
        );
      }, 100);
    });
    slowStart.listen(0, '127.0.0.1');
    await once(slowStart, 'listening');
    const req = request({
      port: (slowStart.address() as AddressInfo).port,
      host: '127.0.0.1',
      method: 'POST',
      headers: { 'content-length': String(200 * 1024) },
    });
    req.on('error', () => {});
    req.write('{');
    await new Promise((r) => setTimeout(r, 20));
    req.destroy();
    while (outcomes.length === 0) await new Promise((r) => setTimeout(r, 5));
    // Before, its 200 KiB stayed reserved until the idle timer, 10 s on: every other body 429.
    expect(outcomes).toEqual(['aborted']);
    expect(own.inFlight).toBe(0);
    slowStart.closeAllConnections();
    slowStart.close();
  });

  it('answers 408 to a body that stops arriving', async () => {
    const stalled = createServer((req, res) => {
      readBody(req, { ...limits, idleTimeoutMs: 200 }).catch((error: BodyError) => {
        res.writeHead(error.status, { connection: 'close' });
        res.end(error.reason);
      });
    });
    stalled.listen(0, '127.0.0.1');
    await once(stalled, 'listening');
    const req = request({
      port: (stalled.address() as AddressInfo).port,
      host: '127.0.0.1',
      method: 'POST',
      headers: { 'content-length': '1000' },
    });
    req.on('error', () => {});
    req.write('{');
    const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
    res.resume();
    expect(res.statusCode).toBe(408);
    req.destroy();
    stalled.closeAllConnections();
    stalled.close();
  });
});
