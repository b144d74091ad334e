import { request } from 'node:http';
import { appRouter } from '@fleetpmap/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import { drivers, errorOf, type RawResponse, rawRequest, useTestServer } from './harness.ts';

type Call = { method: 'GET' | 'POST'; path: string; body?: string };

/** Every procedure that needs a token, called the way the tRPC client calls it. */
function procedures(): Record<string, Call> {
  return {
    'snapshot.push': {
      method: 'POST',
      path: '/trpc/snapshot.push',
      body: JSON.stringify(fullSnapshot('web-07')),
    },
    'host.list': { method: 'GET', path: '/trpc/host.list' },
    'token.list': { method: 'GET', path: '/trpc/token.list' },
    'token.create': {
      method: 'POST',
      path: '/trpc/token.create',
      body: JSON.stringify({ role: 'admin' }),
    },
    'token.revoke': {
      method: 'POST',
      path: '/trpc/token.revoke',
      body: JSON.stringify({ id: '1' }),
    },
    'token.enroll': {
      method: 'POST',
      path: '/trpc/token.enroll',
      body: JSON.stringify({ hostName: 'web-99' }),
    },
    'report.list': { method: 'GET', path: '/trpc/report.list' },
    'report.get': { method: 'GET', path: '/trpc/report.get' },
    'report.run': {
      method: 'POST',
      path: '/trpc/report.run',
      body: JSON.stringify({ windowMs: 3_600_000 }),
    },
  };
}

/** Roles that may call each procedure; any other role is refused with 403. */
const ALLOWED: Record<string, string[]> = {
  'snapshot.push': ['admin', 'agent'],
  'host.list': ['admin', 'reader'],
  'token.list': ['admin'],
  'token.create': ['admin'],
  'token.revoke': ['admin'],
  // Not even admins: an admin makes agent tokens with token.create.
  'token.enroll': ['enroll'],
  'report.list': ['admin', 'reader'],
  'report.get': ['admin', 'reader'],
  'report.run': ['admin'],
};

describe.each(drivers())('auth matrix on $name', (driver) => {
  const t = useTestServer(driver);
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    const admin = t.client(t.adminToken);
    tokens.reader = (await admin.token.create.mutate({ role: 'reader' })).token;
    tokens.agent = (await admin.token.create.mutate({ role: 'agent', hostName: 'web-07' })).token;
    tokens.otherAgent = (
      await admin.token.create.mutate({ role: 'agent', hostName: 'db-01' })
    ).token;
    tokens.enroll = (
      await admin.token.create.mutate({ role: 'enroll', hostPattern: 'web-*' })
    ).token;
    const revoked = await admin.token.create.mutate({ role: 'admin', label: 'to revoke' });
    await admin.token.revoke.mutate({ id: revoked.id });
    tokens.revoked = revoked.token;
  });

  const call = (c: Call, authorization: string | undefined): Promise<RawResponse> =>
    rawRequest(t.url, {
      method: c.method,
      path: c.path,
      headers: {
        ...(c.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(authorization === undefined ? {} : { authorization }),
      },
      ...(c.body === undefined ? {} : { body: c.body }),
    });

  it('refuses every procedure without a valid token of the right role', async () => {
    const outcomes: string[] = [];
    const expectRefused = async (
      name: string,
      who: string,
      auth: string | undefined,
      status: number,
    ) => {
      const r = await call(procedures()[name] as Call, auth);
      const { message } = errorOf(r);
      if (r.status !== status || message === '') {
        outcomes.push(`${name} with ${who}: ${r.status} "${message}", wanted ${status}`);
      }
    };
    for (const name of Object.keys(ALLOWED)) {
      await expectRefused(name, 'no token', undefined, 401);
      await expectRefused(name, 'empty bearer', 'Bearer ', 401);
      await expectRefused(name, 'basic auth', 'Basic YWRtaW46YWRtaW4=', 401);
      await expectRefused(name, 'unknown token', `Bearer fpm_${'A'.repeat(43)}`, 401);
      await expectRefused(name, 'garbage token', `Bearer ${'x'.repeat(5000)}`, 401);
      await expectRefused(name, 'revoked token', `Bearer ${tokens.revoked}`, 401);
      for (const role of ['reader', 'agent', 'enroll'] as const) {
        if (!ALLOWED[name]?.includes(role))
          await expectRefused(name, `${role} token`, `Bearer ${tokens[role]}`, 403);
      }
    }
    await expectRefused(
      'snapshot.push',
      'agent token of another host',
      `Bearer ${tokens.otherAgent}`,
      403,
    );
    expect(outcomes).toEqual([]);
    expect(await t.server.database.storedSnapshotCount()).toBe(0);
    expect(await t.client(t.adminToken).token.list.query()).toHaveLength(6);
  });

  it('refuses a body without a usable token before reading it', async () => {
    // A push whose body never ends: with no token, or an unknown one, the answer must not wait
    // for it (the server would otherwise read and inflate up to its body limit for anyone).
    for (const authorization of [undefined, `Bearer fpm_${'B'.repeat(43)}`]) {
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(`${t.url}/trpc/snapshot.push`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-encoding': 'gzip',
            ...(authorization === undefined ? {} : { authorization }),
          },
        });
        req.on('response', (res) => {
          let text = '';
          res.on('data', (c: Buffer) => {
            text += c.toString();
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.write(Buffer.alloc(64 * 1024));
        // Never ended: only an answer sent before the body completes resolves this.
      });
      expect(answer.status).toBe(401);
      expect(answer.text).toMatch(
        authorization === undefined ? /missing bearer token/ : /unknown or revoked token/,
      );
    }
  });

  it('refuses every procedure of the router, present and future, without a usable token', async () => {
    const outcomes: string[] = [];
    const all = Object.entries(
      appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>,
    );
    expect(all.length).toBeGreaterThanOrEqual(7);
    for (const [path, procedure] of all) {
      if (path === 'health' || path === 'version') continue;
      const c: Call =
        procedure._def.type === 'query'
          ? { method: 'GET', path: `/trpc/${path}` }
          : { method: 'POST', path: `/trpc/${path}`, body: '{}' };
      const who: [string, string | undefined, number][] = [
        ['no token', undefined, 401],
        ['unknown token', `Bearer fpm_${'B'.repeat(43)}`, 401],
        ['revoked token', `Bearer ${tokens.revoked}`, 401],
        // Agents only write their own snapshots.
        ...(path === 'snapshot.push'
          ? []
          : [['agent token', `Bearer ${tokens.agent}`, 403] as [string, string, number]]),
        // An enroll token does one thing: get a new host its agent token.
        ...(path === 'token.enroll'
          ? []
          : [['enroll token', `Bearer ${tokens.enroll}`, 403] as [string, string, number]]),
      ];
      for (const [name, auth, status] of who) {
        const r = await call(c, auth);
        if (r.status !== status)
          outcomes.push(`${path} with ${name}: ${r.status}, wanted ${status}`);
      }
    }
    expect(outcomes).toEqual([]);
  });

  it('lets each role do what it may', async () => {
    const push = await call(procedures()['snapshot.push'] as Call, `Bearer ${tokens.agent}`);
    expect(push.status).toBe(200);
    const asAdmin = await call(
      { method: 'POST', path: '/trpc/snapshot.push', body: JSON.stringify(fullSnapshot('db-01')) },
      `Bearer ${t.adminToken}`,
    );
    expect(asAdmin.status).toBe(200);
    const hosts = await t.client(tokens.reader).host.list.query();
    expect(hosts.map((h) => h.name)).toEqual(['db-01', 'web-07']);
    // An enroll token gets a new host its own agent token, once; it writes only that host.
    const enrolled = await t.client(tokens.enroll).token.enroll.mutate({ hostName: 'web-99' });
    expect(enrolled).toMatchObject({ role: 'agent', hostName: 'web-99' });
    const again = await call(procedures()['token.enroll'] as Call, `Bearer ${tokens.enroll}`);
    expect([again.status, errorOf(again).message]).toEqual([
      409,
      `host web-99 is already enrolled (token ${enrolled.id}); revoke that token to enroll it again`,
    ]);
    const outside = await call(
      { method: 'POST', path: '/trpc/token.enroll', body: JSON.stringify({ hostName: 'db-02' }) },
      `Bearer ${tokens.enroll}`,
    );
    expect([outside.status, errorOf(outside).message]).toEqual([
      403,
      "host db-02 does not match this enroll token's hosts (web-*)",
    ]);
    const ownPush = await call(
      { method: 'POST', path: '/trpc/snapshot.push', body: JSON.stringify(fullSnapshot('web-99')) },
      `Bearer ${enrolled.token}`,
    );
    expect(ownPush.status).toBe(200);
    const otherPush = await call(procedures()['snapshot.push'] as Call, `Bearer ${enrolled.token}`);
    expect(otherPush.status).toBe(403);
    // The refusal names the field it is about: that snapshot's host, not the token's role.
    expect(errorOf(otherPush).data.field).toBe('host.name');
    const readerPush = await call(procedures()['snapshot.push'] as Call, `Bearer ${tokens.reader}`);
    expect(readerPush.status).toBe(403);
    expect(errorOf(readerPush).data.field).toBeUndefined();
    // Each enrollment is counted by outcome, where monitoring can alert on refusals.
    const metrics = (await call({ method: 'GET', path: '/metrics' }, undefined)).text;
    for (const outcome of ['enrolled', 'host-taken', 'host-pattern']) {
      expect(metrics).toMatch(
        new RegExp(`^fleetpmap_enrollments_total\\{outcome="${outcome}"\\} 1$`, 'm'),
      );
    }
    expect((await call({ method: 'GET', path: '/trpc/health' }, undefined)).status).toBe(200);
    expect((await call({ method: 'GET', path: '/trpc/version' }, undefined)).status).toBe(200);
  });

  it('never shows a token secret again after creation', async () => {
    const list = await call(procedures()['token.list'] as Call, `Bearer ${t.adminToken}`);
    expect(list.status).toBe(200);
    for (const secret of [t.adminToken, ...Object.values(tokens)])
      expect(list.text).not.toContain(secret);
  });
});
