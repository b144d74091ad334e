// Checks of the conformance harness itself: the synthetic /proc text must look exactly like the
// kernel's, or the synthetic cases would test a layout no real process ever shows.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { catA, expectSameOutcome } from './compare.ts';
import { detail, mapsLine, withStartStack } from './synthetic.ts';

const mapsRe = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+) +(.*)$/;

describe('synthetic /proc text', () => {
  it('renders every maps line of a real process byte for byte', () => {
    const lines = readFileSync('/proc/self/maps', 'latin1').trimEnd().split('\n');
    expect(lines.length).toBeGreaterThan(5);
    for (const line of lines) {
      const m = mapsRe.exec(line);
      if (m === null) throw new Error(`unexpected maps line ${line}`);
      const [, start, end, perms, offset, major, minor, inode, name] = m;
      const rendered = mapsLine({
        start: BigInt(`0x${start}`),
        end: BigInt(`0x${end}`),
        perms: perms ?? '',
        offset: BigInt(`0x${offset}`),
        major: Number.parseInt(major ?? '', 16),
        minor: Number.parseInt(minor ?? '', 16),
        inode: Number(inode),
        name,
      });
      expect(rendered).toBe(line);
    }
  });

  it('renders smaps detail lines in the kernel layout', () => {
    const lines = readFileSync('/proc/self/smaps', 'latin1').split('\n');
    const details = lines.filter((line) => /^[A-Z][A-Za-z_]*: +\d+( kB)?$/.test(line));
    expect(details.length).toBeGreaterThan(20);
    for (const line of details) {
      const [, key, value, unit] = /^(\w+): +(\d+)( kB)?$/.exec(line) ?? [];
      expect(detail(key ?? '', Number(value), unit ?? '')).toBe(line);
    }
  });

  it('replaces only the startstack field of stat, even with ") " in comm', () => {
    const stat = Buffer.from(
      '4242 (a) b ) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5 1000 20 ' +
        '18446744073709551615 1 1 140720000000000 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n',
    );
    const patched = withStartStack(stat, 0x7ffd00000000n).toString();
    const fields = patched
      .slice(patched.lastIndexOf(')') + 2)
      .trimEnd()
      .split(' ');
    expect(fields[25]).toBe(String(0x7ffd00000000n));
    expect(patched.replace(String(0x7ffd00000000n), '140720000000000')).toBe(stat.toString());
  });
});

describe('catA', () => {
  it('shows line ends, tabs, control and high bytes like cat -A', () => {
    const bytes = Buffer.from([0x61, 0x09, 0x62, 0x7f, 0x01, 0xc3, 0xa9, 0x0a]);
    expect(catA(bytes)).toBe('a^Ib^?^AM-CM-)$\n');
  });
});

describe('expectSameOutcome', () => {
  const outcome = (stdout: string, rc = 0) => ({
    stdout: Buffer.from(stdout, 'latin1'),
    stderr: Buffer.alloc(0),
    rc,
    signal: null,
    files: {},
  });

  it('accepts identical outcomes', () => {
    expectSameOutcome('same', outcome('1:   a\n'), outcome('1:   a\n'));
  });

  it('rejects a one-byte difference, a different exit code and a trailing space', () => {
    expect(() => expectSameOutcome('byte', outcome('\xe9\n'), outcome('\xe8\n'))).toThrow();
    expect(() => expectSameOutcome('rc', outcome('x\n', 1), outcome('x\n', 43))).toThrow();
    expect(() => expectSameOutcome('space', outcome('x \n'), outcome('x\n'))).toThrow();
  });
});
