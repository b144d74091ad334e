import { DatabaseUnreachable } from '@fleetpmap/db';
import { describe, expect, it } from 'vitest';
import { ApiError, isDatabaseUnavailable, toApiError } from './errors.ts';

describe('isDatabaseUnavailable', () => {
  it('recognises connection failures anywhere in the cause chain', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(isDatabaseUnavailable(new Error('Failed query', { cause: refused }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: '57P01' }))).toBe(true);
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: '08006' }))).toBe(true);
  });

  it('leaves query bugs alone', () => {
    expect(isDatabaseUnavailable(Object.assign(new Error('x'), { code: '42P01' }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('undefined is not a function'))).toBe(false);
  });
});

describe('toApiError', () => {
  it('finds a domain error under wrappers and turns outages into retryable 503s', () => {
    const inner = new ApiError('FORBIDDEN', 'no');
    expect(toApiError(new Error('wrapped', { cause: inner }))).toBe(inner);
    const outage = toApiError(Object.assign(new Error('gone'), { code: 'CONNECTION_CLOSED' }));
    expect(outage?.status).toBe(503);
    expect(outage?.retryable).toBe(true);
  });

  it('answers a query given up on by the database deadline with a 503', () => {
    const failed = new Error('Failed query: select 1', { cause: new DatabaseUnreachable() });
    expect(isDatabaseUnavailable(failed)).toBe(true);
    expect(toApiError(failed)).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
  });
});
