import { describe, expect, it } from 'vitest';
import { createTestDb, testDrivers } from './test-db.ts';
import {
  createFirstAdminToken,
  createToken,
  EnrollmentRefused,
  enrollAgent,
  LastAdminToken,
  listTokens,
  revokeToken,
  verifyToken,
} from './tokens.ts';
import { useTestDb } from './use-test-db.ts';

const HOUR = 3_600_000;

describe.each(testDrivers())('tokens on %s', (driver) => {
  const t = useTestDb(driver);

  async function refusal(p: Promise<unknown>): Promise<string> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof EnrollmentRefused)) throw new Error(`expected a refusal, got ${err}`);
    return err.reason;
  }

  it('refuses an expired token, as if revoked', async () => {
    const now = Date.now();
    const reader = await createToken(t.db, { role: 'reader', expiresMs: now + HOUR, nowMs: now });
    expect((await verifyToken(t.db, reader.token, { nowMs: now + HOUR - 1 }))?.id).toBe(reader.id);
    expect(await verifyToken(t.db, reader.token, { nowMs: now + HOUR })).toBeNull();
    await expect(createToken(t.db, { role: 'reader', expiresMs: now - 1 })).rejects.toThrow(
      /expire in the future/,
    );
  });

  it('trades an enroll token for an agent token bound to the host, once per host', async () => {
    const enroll = await createToken(t.db, { role: 'enroll', hostPattern: 'web-*' });
    const agent = await enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'web-enroll-1' });
    expect(agent).toMatchObject({
      role: 'agent',
      hostName: 'web-enroll-1',
      enrolledBy: enroll.id,
      hostPattern: null,
    });
    expect(await verifyToken(t.db, agent.token)).toMatchObject({
      role: 'agent',
      hostName: 'web-enroll-1',
    });
    // The shared secret cannot take over a host that is already enrolled…
    expect(
      await refusal(enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'web-enroll-1' })),
    ).toBe('host-taken');
    // …nor one an admin gave a token by hand…
    await createToken(t.db, { role: 'agent', hostName: 'web-enroll-2' });
    expect(
      await refusal(enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'web-enroll-2' })),
    ).toBe('host-taken');
    // …nor a host outside its pattern.
    expect(await refusal(enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'db-01' }))).toBe(
      'host-pattern',
    );
    // Revoking the host's token lets a reinstalled machine enroll again.
    await revokeToken(t.db, agent.id);
    const again = await enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'web-enroll-1' });
    expect(again.token).not.toBe(agent.token);
  });

  it('refuses an enroll token revoked or expired after it was checked', async () => {
    const now = Date.now();
    const enroll = await createToken(t.db, { role: 'enroll', expiresMs: now + HOUR, nowMs: now });
    expect(
      await refusal(
        enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'late-1', nowMs: now + HOUR }),
      ),
    ).toBe('enroll-token');
    await revokeToken(t.db, enroll.id);
    expect(await refusal(enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'late-1' }))).toBe(
      'enroll-token',
    );
    const reader = await createToken(t.db, { role: 'reader' });
    expect(await refusal(enrollAgent(t.db, { enrollTokenId: reader.id, hostName: 'late-1' }))).toBe(
      'enroll-token',
    );
    expect((await listTokens(t.db)).some((k) => k.hostName === 'late-1')).toBe(false);
  });

  it('gives one agent token when many agents claim the same host at once', async () => {
    const enroll = await createToken(t.db, { role: 'enroll' });
    const claims = await Promise.allSettled(
      Array.from({ length: 12 }, () =>
        enrollAgent(t.db, { enrollTokenId: enroll.id, hostName: 'race-1' }),
      ),
    );
    const won = claims.filter((c) => c.status === 'fulfilled');
    const lost = claims.filter((c) => c.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((c) => (c.reason as EnrollmentRefused).reason)).toEqual(
      Array(11).fill('host-taken'),
    );
    const live = (await listTokens(t.db)).filter((k) => k.hostName === 'race-1');
    expect(live).toHaveLength(1);
  });

  it('makes a first admin token only while no live admin token exists', async () => {
    await using fresh = await createTestDb(driver);
    const first = await createFirstAdminToken(fresh.db, { note: 'first' });
    expect(first?.role).toBe('admin');
    expect(await createFirstAdminToken(fresh.db)).toBeNull();
    // Once no admin token is live (the last one expired), the next start makes one again.
    const now = Date.now();
    const expiring = await createToken(fresh.db, {
      role: 'admin',
      expiresMs: now + HOUR,
      nowMs: now,
    });
    await revokeToken(fresh.db, (first as { id: number }).id, { nowMs: now });
    expect(await createFirstAdminToken(fresh.db, { nowMs: now + 1 })).toBeNull();
    expect(await createFirstAdminToken(fresh.db, { nowMs: now + HOUR })).not.toBeNull();
    expect(expiring.expiresMs).toBe(now + HOUR);
  });

  it('does not revoke the last live admin token, even when two admins revoke each other at once', async () => {
    await using fresh = await createTestDb(driver);
    const only = await createToken(fresh.db, { role: 'admin' });
    await expect(revokeToken(fresh.db, only.id)).rejects.toThrow(
      `token ${only.id} is the last live admin token; create another first`,
    );
    expect(await verifyToken(fresh.db, only.token)).toMatchObject({ role: 'admin' });
    // An expired admin token does not count as another.
    const now = Date.now();
    await createToken(fresh.db, { role: 'admin', expiresMs: now + 1, nowMs: now });
    await expect(revokeToken(fresh.db, only.id, { nowMs: now + 2 })).rejects.toThrow(
      LastAdminToken,
    );
    const second = await createToken(fresh.db, { role: 'admin' });
    const both = await Promise.allSettled([
      revokeToken(fresh.db, only.id),
      revokeToken(fresh.db, second.id),
    ]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(both.filter((r) => r.status === 'rejected')).toHaveLength(1);
    const live = (await listTokens(fresh.db)).filter(
      (k) => k.role === 'admin' && k.expiresMs === null,
    );
    expect(live).toHaveLength(1);
    // Other roles are revoked as before.
    const reader = await createToken(fresh.db, { role: 'reader' });
    expect(await revokeToken(fresh.db, reader.id)).toMatchObject({ id: reader.id });
  });

  it('keeps host patterns and enrollment marks to the roles they belong to', async () => {
    await expect(createToken(t.db, { role: 'reader', hostPattern: 'web-*' })).rejects.toThrow(
      /only enroll tokens/,
    );
  });
});
