// Malformed or hostile map text must never crash the renderer or make it hang: the default, -x
// and -d layouts print whatever pmap would make of it, and the smaps table either renders or
// stops with pmap's own format error.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeString, flattenCmdline } from './command.ts';
import { PmapFormatError } from './errors.ts';
import { FULL_RANGE, type PmapMode, type PmapOptions } from './options.ts';
import { parseRcFile } from './rc-file.ts';
import { renderProcess } from './render.ts';

const SAMPLE = [
  '5604847ef000-5604847f1000 r--p 00000000 fe:00 260875                     /usr/bin/sleep',
  'Size:                  8 kB',
  'Rss:                   8 kB',
  'Pss:                   8 kB',
  'Shared_Dirty:          0 kB',
  'Private_Dirty:         0 kB',
  'Swap:                  0 kB',
  'THPeligible:    0',
  'VmFlags: rd mr mw me ',
  '7fcf88521000-7fcf88524000 rw-p 00000000 00:00 0 ',
  'Size:                 12 kB',
  'Rss:                   8 kB',
  'Pss:                   8 kB',
  'Shared_Dirty:          0 kB',
  'Private_Dirty:         8 kB',
  'Swap:                  0 kB',
  'THPeligible:    0',
  'VmFlags: rd wr mr mw me ac ',
].join('\n');

const byteString = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1'));

// A sample with lines dropped, duplicated or replaced by random bytes.
const mutated = fc
  .array(fc.oneof(fc.nat(SAMPLE.split('\n').length - 1), byteString), { maxLength: 40 })
  .map((picks) => {
    const lines = SAMPLE.split('\n');
    return picks.map((p) => (typeof p === 'number' ? (lines[p] ?? '') : p)).join('\n');
  });

const MODES: PmapMode[] = ['default', 'extended', 'device', 'X', 'XX', 'rc'];

function renderAll(text: string, quiet: boolean): void {
  for (const mode of MODES) {
    const opts: PmapOptions = {
      mode,
      quiet,
      showPath: quiet,
      range: FULL_RANGE,
      shmMinor: 1,
      rcFields: new Set(['Rss', 'Mapping', 'Perm']),
    };
    try {
      renderProcess({ tgid: 1, command: 'x', startStack: 0n, mapText: text }, opts, () => {});
    } catch (e) {
      expect(mode === 'X' || mode === 'XX' || mode === 'rc').toBe(true);
      expect(e).toBeInstanceOf(PmapFormatError);
    }
  }
}

describe('renderer on malformed input', () => {
  it('renders or reports a format error for random bytes and mutated smaps', () => {
    fc.assert(
      fc.property(fc.oneof(byteString, mutated), fc.boolean(), (text, quiet) => {
        renderAll(text, quiet);
      }),
      { numRuns: 300 },
    );
  });

  it('escapes any command line into printable text of at most its own length', () => {
    fc.assert(
      fc.property(byteString, fc.boolean(), (raw, utf8) => {
        const text = escapeString(flattenCmdline(raw), utf8);
        expect(text.length).toBeLessThanOrEqual(raw.length);
        if (!utf8) expect(text).toMatch(/^[\x20-\x7e]*$/);
      }),
      { numRuns: 500 },
    );
  });

  it('parses any rc text, warning only in the words of pmap about lines that exist', () => {
    const warning =
      /^(syntax error found in the config|unsupported section found in the config|config line too long) - line (\d+)$/;
    fc.assert(
      fc.property(byteString, (text) => {
        const lineCount = text.split('\n').length;
        for (const w of parseRcFile(text).warnings) {
          const m = warning.exec(w);
          expect(m).not.toBeNull();
          expect(Number(m?.[2])).toBeLessThanOrEqual(lineCount);
        }
      }),
      { numRuns: 300 },
    );
  });
});
