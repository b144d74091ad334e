export type RateLimiter = {
  /** false when `key` has used up its budget for now */
  take(key: string): boolean;
};

/**
 * Token buckets per key (a token id), refilled continuously. The map is bounded: when it is full
 * the least recently seen key is forgotten, which at worst gives that key a fresh bucket.
 */
export function createRateLimiter(opts: {
  perSecond: number;
  burst: number;
  maxKeys?: number;
  nowMs?: () => number;
}): RateLimiter {
  const maxKeys = opts.maxKeys ?? 10_000;
  const nowMs = opts.nowMs ?? Date.now;
  const buckets = new Map<string, { tokens: number; atMs: number }>();
  return {
    take(key) {
      const now = nowMs();
      let bucket = buckets.get(key);
      if (bucket) {
        buckets.delete(key);
        bucket.tokens = Math.min(
          opts.burst,
          bucket.tokens + ((now - bucket.atMs) / 1000) * opts.perSecond,
        );
        bucket.atMs = now;
      } else {
        bucket = { tokens: opts.burst, atMs: now };
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
      }
      buckets.set(key, bucket);
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
  };
}
