// Scanning primitives with the semantics of glibc's sscanf/strtoul, which pmap 4.0.2 uses to read
// maps and smaps lines. Byte-identical output depends on reproducing exactly how many characters
// each conversion takes and how failed conversions leave earlier values in place, so these work
// on byte strings (one JS char per byte) and report positions, not just values.

export const ULONG_MAX = (1n << 64n) - 1n;
export const UINT_MAX = (1n << 32n) - 1n;

/** C `isspace` in the C locale: space, \t, \n, \v, \f, \r. */
export function isCSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

export function skipSpace(s: string, i: number): number {
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  return i;
}

function digitValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return 99;
}

export interface Scanned<T> {
  value: T;
  /** Index just after the converted text. */
  end: number;
}

/**
 * strtoul(3): leading white space, an optional sign, a `0x` prefix for base 16 (or detected with
 * base 0, where a leading `0` means octal), then digits. Out-of-range values saturate at
 * ULONG_MAX; a minus sign negates modulo 2^64. With no digits, `end` is the start index (no
 * conversion), except that `0x` without hex digits converts the `0` (glibc behaviour).
 */
export function strtoul(s: string, start: number, base: 0 | 8 | 10 | 16): Scanned<bigint> {
  let i = skipSpace(s, start);
  let negative = false;
  const sign = s.charCodeAt(i);
  if (sign === 43 || sign === 45) {
    negative = sign === 45;
    i++;
  }
  let b = base;
  if (s.charCodeAt(i) === 48) {
    const x = s.charCodeAt(i + 1) | 0x20;
    if ((b === 0 || b === 16) && x === 0x78 && digitValue(s.charCodeAt(i + 2)) < 16) {
      i += 2;
      b = 16;
    } else if (b === 0) {
      b = 8;
    }
  }
  if (b === 0) b = 10;
  const big = BigInt(b);
  const digitsStart = i;
  let value = 0n;
  let overflow = false;
  while (i < s.length) {
    const d = digitValue(s.charCodeAt(i));
    if (d >= b) break;
    if (!overflow) {
      value = value * big + BigInt(d);
      if (value > ULONG_MAX) overflow = true;
    }
    i++;
  }
  if (i === digitsStart) return { value: 0n, end: start };
  if (overflow) return { value: ULONG_MAX, end: i };
  return { value: negative ? BigInt.asUintN(64, -value) : value, end: i };
}

/**
 * A scanf integer conversion (`%lx`, `%x`, `%llu`, ...) without a field width: white space is
 * skipped, a sign and (for hex) a `0x` prefix are taken, then digits. Returns null when nothing
 * converts (the directive fails and scanf stops).
 */
export function scanUnsigned(s: string, start: number, base: 10 | 16): Scanned<bigint> | null {
  let i = skipSpace(s, start);
  let negative = false;
  const sign = s.charCodeAt(i);
  if (sign === 43 || sign === 45) {
    negative = sign === 45;
    i++;
  }
  let sawZeroPrefix = false;
  if (base === 16 && s.charCodeAt(i) === 48 && (s.charCodeAt(i + 1) | 0x20) === 0x78) {
    i += 2;
    sawZeroPrefix = true;
  }
  const digitsStart = i;
  let value = 0n;
  let overflow = false;
  const big = BigInt(base);
  while (i < s.length) {
    const d = digitValue(s.charCodeAt(i));
    if (d >= base) break;
    if (!overflow) {
      value = value * big + BigInt(d);
      if (value > ULONG_MAX) overflow = true;
    }
    i++;
  }
  if (i === digitsStart && !sawZeroPrefix) return null;
  if (overflow) return { value: ULONG_MAX, end: i };
  return { value: negative ? BigInt.asUintN(64, -value) : value, end: i };
}

/** `%Ns`: skips white space, then takes 1..max non-space characters. */
export function scanWord(s: string, start: number, max: number): Scanned<string> | null {
  const i = skipSpace(s, start);
  let j = i;
  while (j < s.length && j - i < max && !isCSpace(s.charCodeAt(j))) j++;
  if (j === i) return null;
  return { value: s.slice(i, j), end: j };
}

/** `%N[set]`: takes 1..max characters for which `accept` holds; no white space is skipped. */
export function scanSet(
  s: string,
  start: number,
  max: number,
  accept: (c: number) => boolean,
): Scanned<string> | null {
  let j = start;
  while (j < s.length && j - start < max && accept(s.charCodeAt(j))) j++;
  if (j === start) return null;
  return { value: s.slice(start, j), end: j };
}

export const isLowerHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
export const isDecimal = (c: number): boolean => c >= 48 && c <= 57;

/** The C string that starts at `i`: text up to the first NUL, as strlen/printf("%s") see it. */
export function cString(s: string, i = 0): string {
  const nul = s.indexOf('\0', i);
  return nul < 0 ? s.slice(i) : s.slice(i, nul);
}

/** printf `%*s` (right-aligned) and `%-*s` (left-aligned); never truncates. */
export function padStart(text: string, width: number): string {
  return text.length >= width ? text : ' '.repeat(width - text.length) + text;
}

export function padEnd(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

/** printf `%0*lx` of an unsigned 64-bit value. */
export function hex0(value: bigint, width: number): string {
  return value.toString(16).padStart(width, '0');
}

/** Decimal digits of an unsigned value, as pmap's integer_width counts them (0 has 1). */
export function decimalWidth(value: bigint): number {
  return value.toString().length;
}

/** printf `%ld` of an unsigned 64-bit value reinterpreted as signed. */
export function signedDecimal(value: bigint): string {
  return BigInt.asIntN(64, value).toString();
}
