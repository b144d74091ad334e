import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildLeakReport } from '@fleetpmap/analysis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatText, postReport, webhookBody } from './webhook.ts';

const report = buildLeakReport(
  [
    {
      host: 'web-1',
      pid: 41,
      startTicks: 1,
      comm: 'java',
      cmdline: 'java <!channel> <https://evil.example|docs> & more',
      exe: '/usr/bin/java',
      cgroup: null,
      firstSeenMs: 0,
      startedAtMs: 0,
      currentKb: 512_000,
      growthKb: 40_000,
      slopeKbPerHour: 10_000,
      pctPerHour: 2,
      confidence: 0.9,
      leak: true,
      timeToLimitHours: 50,
      limitKb: 16_000_000,
      incarnations: 1,
    },
  ],
  { generatedAtMs: 0, windowMs: 3_600_000, toMs: 3_600_000, metric: 'anon' },
);

describe('the webhook delivery', () => {
  let server: Server;
  let base = '';
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      req.resume();
      if (req.url === '/ok') res.writeHead(204).end();
      else if (req.url === '/moved') res.writeHead(302, { location: '/ok' }).end();
      else res.writeHead(500).end('boom');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.close();
  });

  it('succeeds on 2xx and fails with the status otherwise, never following a redirect', async () => {
    await expect(postReport({ url: `${base}/ok` }, 1, report)).resolves.toBeUndefined();
    await expect(postReport({ url: `${base}/moved` }, 1, report)).rejects.toThrow(
      'it answered HTTP 302',
    );
    await expect(postReport({ url: `${base}/fail` }, 1, report)).rejects.toThrow(
      'it answered HTTP 500',
    );
    expect(seen).toEqual(['/ok', '/moved', '/fail']);
  });

  it('says when nothing listens', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const { port } = closed.address() as AddressInfo;
    closed.close();
    await once(closed, 'close');
    await expect(postReport({ url: `http://127.0.0.1:${port}/` }, 1, report)).rejects.toThrow(
      'cannot reach it: ECONNREFUSED',
    );
  });

  it("keeps a command line from mentioning a channel or hiding a link in a chat tool's text", () => {
    const body = JSON.parse(webhookBody(7, report)) as { id: number; text: string };
    expect(body.id).toBe(7);
    expect(body.text).not.toMatch(/[<>]/);
    expect(body.text).toContain('&lt;!channel&gt; &lt;https://evil.example|docs&gt; &amp; more');
    expect(chatText('a<b>&c')).toBe('a&lt;b&gt;&amp;c');
  });
});
