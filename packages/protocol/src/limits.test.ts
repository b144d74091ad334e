import { describe, expect, it } from 'vitest';
import { isRetryableStatus, PROTOCOL_ERRORS } from './limits.ts';

describe('retry policy', () => {
  it("retries only 429 and 503, and a proxy's 502 and 504", () => {
    const retried = [400, 401, 403, 413, 415, 429, 500, 502, 503, 504].filter(isRetryableStatus);
    expect(retried).toEqual([429, 502, 503, 504]);
    for (const e of Object.values(PROTOCOL_ERRORS))
      expect(isRetryableStatus(e.status)).toBe(e.retryable);
  });
});
