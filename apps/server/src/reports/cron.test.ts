import { describe, expect, it } from 'vitest';
import { assertFiresSometime } from './cron.ts';

describe('assertFiresSometime', () => {
  it('refuses a pattern that names a date no month has', () => {
    for (const pattern of ['0 0 30 2 *', '0 0 31 4 *', '0 0 31 11 *', '0 0 0 30 2 *']) {
      expect(() => assertFiresSometime(pattern), pattern).toThrow(/never fires/);
      expect(() => assertFiresSometime(pattern, 'Europe/Berlin'), pattern).toThrow(/never fires/);
    }
  });

  it('accepts patterns that fire, however rarely', () => {
    for (const pattern of [
      '0 6 * * *',
      '0 7 * * 1-5',
      '*/15 * * * *',
      '0 0 29 2 *', // every leap year
      '0 0 L 2 *', // the last day of February
      '0 0 * * 5#5', // a month's fifth Friday
      '0 0 30 2 1', // day 30 or a Monday, croner's reading when both are given
      '30 2 * * *', // skipped once a year in Berlin, when summer time begins
    ]) {
      expect(() => assertFiresSometime(pattern), pattern).not.toThrow();
      expect(() => assertFiresSometime(pattern, 'Europe/Berlin'), pattern).not.toThrow();
    }
  });

  it("passes on croner's own refusal of a pattern it cannot read", () => {
    expect(() => assertFiresSometime('0 6 * *')).toThrow();
    expect(() => assertFiresSometime('61 * * * *')).toThrow();
  });
});
