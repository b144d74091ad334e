import type { ApiServices, Identity } from '@fleetpmap/api';
import { describe, expect, it } from 'vitest';
import { withAuthCache } from './auth-cache.ts';

// A token table in memory stands in for storage: what is under test is the caching rule.
function tokenTable() {
  const live = new Map<string, Identity>([
    ['good', { tokenId: '1', role: 'agent', hostName: 'a' }],
  ]);
  let lookups = 0;
  const services = {
    async authenticate(secret: string) {
      lookups++;
      return live.get(secret) ?? null;
    },
    async revokeToken(id: string) {
      for (const [secret, identity] of live) if (identity.tokenId === id) live.delete(secret);
      return null;
    },
  } as unknown as ApiServices;
  return { services, live, lookups: () => lookups };
}

describe('withAuthCache', () => {
  it('asks storage once per TTL for a known token and every time for an unknown one', async () => {
    let now = 0;
    const table = tokenTable();
    const cached = withAuthCache(table.services, { ttlMs: 1000, nowMs: () => now });
    await cached.authenticate('good');
    await cached.authenticate('good');
    await cached.authenticate('nope');
    await cached.authenticate('nope');
    expect(table.lookups()).toBe(3);
    now = 1001;
    await cached.authenticate('good');
    expect(table.lookups()).toBe(4);
  });

  it('forgets every identity when a token is revoked through it', async () => {
    const table = tokenTable();
    const cached = withAuthCache(table.services, { ttlMs: 60_000 });
    expect(await cached.authenticate('good')).not.toBeNull();
    await cached.revokeToken('1');
    expect(await cached.authenticate('good')).toBeNull();
  });
});
