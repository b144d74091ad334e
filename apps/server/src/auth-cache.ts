import { createHash } from 'node:crypto';
import type { ApiServices, Identity } from '@fleetpmap/api';

/**
 * Remembers token lookups for `ttlMs` so a busy agent does not cost a database round trip per
 * push. Revocation through this server clears the cache at once; a revocation made through
 * another replica takes effect here within `ttlMs`. Keys are SHA-256 of the secret.
 */
export function withAuthCache(
  services: ApiServices,
  opts: { ttlMs: number; maxEntries?: number; nowMs?: () => number },
): ApiServices {
  const maxEntries = opts.maxEntries ?? 10_000;
  const nowMs = opts.nowMs ?? Date.now;
  const cache = new Map<string, { identity: Identity; expiresMs: number }>();
  return {
    ...services,
    async authenticate(secret) {
      const key = createHash('sha256').update(secret).digest('base64');
      const hit = cache.get(key);
      if (hit && hit.expiresMs > nowMs()) return hit.identity;
      const identity = await services.authenticate(secret);
      // Unknown tokens are not cached: a flood of made-up tokens must not evict real ones.
      if (identity) {
        if (cache.size >= maxEntries) cache.clear();
        cache.set(key, { identity, expiresMs: nowMs() + opts.ttlMs });
      } else {
        cache.delete(key);
      }
      return identity;
    },
    async revokeToken(id) {
      const revoked = await services.revokeToken(id);
      cache.clear();
      return revoked;
    },
  };
}
