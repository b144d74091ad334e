import { describe, expect, it } from 'vitest';
import { FULL_RANGE } from './options.ts';
import { applyRange, parsePidArgument } from './range.ts';

describe('-A LOW[,HIGH]', () => {
  it('reads hex with or without 0x; without a comma HIGH equals LOW', () => {
    expect(applyRange('10011000', FULL_RANGE)).toEqual({ low: 0x10011000n, high: 0x10011000n });
    expect(applyRange('0x10010000,0x10020000', FULL_RANGE)).toEqual({
      low: 0x10010000n,
      high: 0x10020000n,
    });
  });

  it('leaves an empty side as it was, so repeated -A options combine', () => {
    const first = applyRange('10010000,', FULL_RANGE);
    expect(first).toEqual({ low: 0x10010000n, high: FULL_RANGE.high });
    expect(applyRange(',10011000', first ?? FULL_RANGE)).toEqual({
      low: 0x10010000n,
      high: 0x10011000n,
    });
    expect(applyRange('', FULL_RANGE)).toEqual(FULL_RANGE);
  });

  it('rejects anything left over', () => {
    expect(applyRange('zz', FULL_RANGE)).toBeNull();
    expect(applyRange('1,2,3', FULL_RANGE)).toBeNull();
    expect(applyRange('0x', FULL_RANGE)).toBeNull();
  });
});

describe('PID arguments', () => {
  it('accepts decimal, hex and octal like strtoul(…, 0)', () => {
    expect(parsePidArgument('8512')).toBe(8512);
    expect(parsePidArgument('0x2140')).toBe(0x2140);
    expect(parsePidArgument('020500')).toBe(0o20500);
  });

  it('rejects 0, values above 0x7fffffff and trailing characters', () => {
    expect(parsePidArgument('0')).toBeNull();
    expect(parsePidArgument('2147483648')).toBeNull();
    expect(parsePidArgument('2147483647')).toBe(2147483647);
    expect(parsePidArgument('123abc')).toBeNull();
    expect(parsePidArgument('08')).toBeNull();
  });
});
