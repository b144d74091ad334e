import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BodyError, readBody } from './body.ts';

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
