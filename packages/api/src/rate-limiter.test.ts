import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limiter.ts';

describe('createRateLimiter', () => {
  it('allows a burst, then refuses until time refills the bucket', () => {
    let now = 0;
    const limiter = createRateLimiter({ perSecond: 2, burst: 3, nowMs: () => now });
    expect([1, 2, 3, 4].map(() => limiter.take('a'))).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true);
    now += 500;
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
  });

  it('forgets the least recently seen key when full', () => {
    const limiter = createRateLimiter({ perSecond: 0.001, burst: 1, maxKeys: 2, nowMs: () => 0 });
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('b')).toBe(true);
    expect(limiter.take('c')).toBe(true);
    // 'a' was evicted, so it starts again with a full bucket; 'c' is still empty.
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('c')).toBe(false);
  });
});
