import { describe, expect, it } from 'vitest';
import { printable, printableBytes, table } from './format.ts';

const BIDI = [
  0x61c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069,
];

describe('tables on a terminal', () => {
  it('never pass an escape sequence or a line break from a cell to the screen', () => {
    const hostile = 'java \u001b[2J\u001b]0;owned\u0007 -jar\napp.jar\r\u009b31m';
    const out = table(['PID', 'COMMAND'], [['41', hostile]]);
    const controls = [...out].filter((c) => /\p{Cc}/u.test(c) && c !== '\n');
    expect(controls).toEqual([]);
    // one header line and one row: the line break did not forge a second row
    expect(out.split('\n')).toHaveLength(3);
    expect(out).toContain('java ?[2J?]0;owned? -jar?app.jar??31m');
    expect(printable('plain – text ✓')).toBe('plain – text ✓');
  });

  it('show bidi controls as `?`, so no cell reads in another order than it holds', () => {
    // U+202E turns `exe.sh` around after it: the operator would read `hs.exe`.
    const out = table(
      ['HOST', 'COMMAND'],
      [['web-1\u2066', 'run \u202eexe.sh \u200f\u061cx\u2028y']],
    );
    expect(out).toContain('web-1?  run ?exe.sh ??x?y');
    for (const c of BIDI) expect(printable(`a${String.fromCodePoint(c)}b`)).toBe('a?b');
    expect(printable('שלום עולם، مرحبا')).toBe('שלום עולם، مرحبا');
  });

  it('withhold the same characters from byte strings as from text', () => {
    for (let c = 0; c <= 0x3000; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      const ch = String.fromCodePoint(c);
      const bytes = Buffer.from(ch, 'utf8').toString('latin1');
      expect(printableBytes(bytes, true), `U+${c.toString(16)}`).toBe(
        printable(ch) === ch ? bytes : '?',
      );
    }
    // Without UTF-8 a lone byte 0x80–0x9F is a C1 control (0x9B is CSI).
    expect(printableBytes('a\x9b31m\xe9\x1b', false)).toBe('a?31m\xe9?');
    expect(printableBytes('caf\xc3\xa9 \xff', true)).toBe('caf\xc3\xa9 \xff');
  });
});
