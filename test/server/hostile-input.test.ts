import { describe, expect, it } from 'vitest';
import { fullSnapshot, type HostileCase, hostileCorpus } from './corpus.ts';
import { drivers, errorOf, rawRequest, useTestServer } from './harness.ts';

// Built once per database run, just before sending: some cases are relative to the clock.
const names = hostileCorpus().map((c) => c.name);

describe.each(drivers())('hostile input on $name', (driver) => {
  const t = useTestServer(driver, { agentHost: 'web-07' });

  it('has at least 200 distinct requests', () => {
    expect(names.length).toBeGreaterThanOrEqual(200);
    expect(new Set(names).size).toBe(names.length);
  });

  it('answers every one with a 4xx and a clear message, and stores nothing', {
    timeout: 300_000,
  }, async () => {
    const failures: string[] = [];
    for (const c of hostileCorpus()) {
      const r = await send(c);
      const { message, data } = errorOf(r);
      const problems: string[] = [];
      if (r.status < 400 || r.status > 499) problems.push(`status ${r.status}`);
      if (c.status !== undefined && r.status !== c.status)
        problems.push(`status ${r.status}, wanted ${c.status}`);
      if (message.length < 5) problems.push(`message "${message}"`);
      if (/\n\s+at /.test(r.text)) problems.push('stack trace in the answer');
      if (data.httpStatus !== r.status) problems.push(`data.httpStatus ${String(data.httpStatus)}`);
      if (c.field !== undefined && data.field !== c.field) {
        problems.push(`field ${String(data.field)}, wanted ${c.field} (${message})`);
      }
      if (problems.length > 0) failures.push(`${c.name}: ${problems.join('; ')}`);
    }
    expect(failures).toEqual([]);

    // Still alive, still empty, and still taking good snapshots.
    expect((await rawRequest(t.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(await t.client(t.adminToken).host.list.query()).toEqual([]);
    expect(await t.server.database.storedSnapshotCount()).toBe(0);
    const ok = await t.client(t.agentToken).snapshot.push.mutate(fullSnapshot());
    expect(ok).toMatchObject({ accepted: true, duplicate: false, processCount: 2 });
    expect(await t.server.database.storedSnapshotCount()).toBe(1);
  });

  it('refuses hostile input to the token and host procedures, creating nothing', async () => {
    const admin = t.client(t.adminToken);
    const before = (await admin.token.list.query()).length;
    const cases: [string, string, string | undefined][] = [
      ['token.create', 'POST', JSON.stringify({ role: 'root' })],
      ['token.create', 'POST', JSON.stringify({ role: 'agent' })],
      ['token.create', 'POST', JSON.stringify({ role: 'reader', hostName: 'web-07' })],
      ['token.create', 'POST', JSON.stringify({ role: 'agent', hostName: 'bad host' })],
      ['token.create', 'POST', JSON.stringify({ role: 'agent', hostName: 'h'.repeat(300) })],
      ['token.create', 'POST', JSON.stringify({ role: 'admin', label: 'l'.repeat(201) })],
      ['token.create', 'POST', JSON.stringify({ role: 'admin', sneaky: true })],
      ['token.create', 'POST', JSON.stringify({ role: ['admin'] })],
      ['token.create', 'POST', JSON.stringify({ role: 'admin', label: 'a\u0000b' })],
      ['token.create', 'POST', '{"role":'],
      ['token.create', 'POST', JSON.stringify([{ role: 'admin' }])],
      ['token.revoke', 'POST', JSON.stringify({ id: "1' or '1'='1" })],
      ['token.revoke', 'POST', JSON.stringify({ id: 'x'.repeat(65) })],
      ['token.revoke', 'POST', JSON.stringify({ id: '' })],
      ['token.revoke', 'POST', JSON.stringify({ id: 1 })],
      ['token.revoke', 'POST', JSON.stringify({ id: '999999' })],
      ['token.revoke', 'POST', JSON.stringify({ id: '%' })],
      ['token.revoke', 'POST', JSON.stringify({})],
      ['token.create', 'POST', JSON.stringify({ role: 'admin', label: 'lone \ud800' })],
    ];
    const failures: string[] = [];
    for (const [path, method, body] of cases) {
      const r = await rawRequest(t.url, {
        method,
        path: `/trpc/${path}`,
        headers: {
          authorization: `Bearer ${t.adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body }),
      });
      const { message } = errorOf(r);
      if (r.status < 400 || r.status > 499 || message.length < 5) {
        failures.push(`${path} ${body ?? ''}: ${r.status} "${message}"`);
      }
    }
    expect(failures).toEqual([]);
    expect((await admin.token.list.query()).length).toBe(before);
  });

  function send(c: HostileCase) {
    return rawRequest(t.url, {
      method: c.method ?? 'POST',
      path: c.path ?? '/trpc/snapshot.push',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${t.agentToken}`,
        ...c.headers,
      },
      body: c.body,
    });
  }
});
