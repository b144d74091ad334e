import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import { assertStorableText, mayHoldUnstorableText } from './storable-text.ts';

describe('storable text', () => {
  it('flags exactly the JSON escapes that can decode to NUL or a surrogate', () => {
    expect(mayHoldUnstorableText(JSON.stringify({ a: 'x\u0000y' }))).toBe(true);
    expect(mayHoldUnstorableText(JSON.stringify({ a: '\ud800' }))).toBe(true);
    expect(mayHoldUnstorableText('{"a":"\\uDC00"}')).toBe(true);
    expect(mayHoldUnstorableText(JSON.stringify({ a: 'plain \u00e9 \u4e2d', b: '\\u0041' }))).toBe(
      false,
    );
  });

  it('names the first field that Postgres could not store', () => {
    const snapshot = {
      host: { labels: { env: 'ok' } },
      processes: [{ comm: 'a' }, { comm: 'b\u0000' }],
    };
    expect(() => assertStorableText(snapshot)).toThrow(ApiError);
    try {
      assertStorableText(snapshot);
    } catch (error) {
      expect((error as ApiError).field).toBe('processes[1].comm');
      expect((error as ApiError).status).toBe(400);
    }
    expect(() => assertStorableText({ labels: { 'k\ud800': 'v' } })).toThrow(/labels/);
    expect(() => assertStorableText({ cmdline: 'emoji \ud83d\ude00 is fine' })).not.toThrow();
  });
});
