import { describe, expect, it } from 'vitest';
import { signTestUpper } from './sign-test.ts';

describe('signTestUpper', () => {
  it('gives the binomial upper tail', () => {
    expect(signTestUpper(12, 0)).toBeCloseTo(1 / 4096, 10);
    // P(K >= 11 | 12) = (12 + 1) / 4096
    expect(signTestUpper(11, 1)).toBeCloseTo(13 / 4096, 10);
    // P(K >= 5 | 10) = 1 - P(K <= 4) = 1 - 386/1024
    expect(signTestUpper(5, 5)).toBeCloseTo(638 / 1024, 10);
    expect(signTestUpper(0, 7)).toBe(1);
  });

  it('says nothing without signs', () => {
    expect(signTestUpper(0, 0)).toBe(1);
  });
});
