import { describe, expect, it } from 'vitest';
import { errorOf, oneDriver, rawRequest, useTestServer } from './harness.ts';

describe('rate limit per token', () => {
  const t = useTestServer(oneDriver(), {
    env: {
      // One request per 100 s: no refill can land during the test, however slow the machine.
      FLEETPMAP_RATE_LIMIT_PER_SEC: '0.01',
      FLEETPMAP_RATE_LIMIT_BURST: '3',
    },
  });

  it('answers 429 with Retry-After past the burst, per token', async () => {
    const reader = (await t.client(t.adminToken).token.create.mutate({ role: 'reader' })).token;
    const list = (token: string) =>
      rawRequest(t.url, {
        method: 'GET',
        path: '/trpc/host.list',
        headers: { authorization: `Bearer ${token}` },
      });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await list(reader)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await list(reader);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('5');
    expect(errorOf(limited).data).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryable: true });
    // Another token has its own budget (the admin token spent one on token.create).
    expect((await list(t.adminToken)).status).toBe(200);
  });
});
