import { parseMaps, parseSmaps } from '@fleetpmap/procfs';
import { exampleMapping } from '@fleetpmap/protocol';
import { describe, expect, it } from 'vitest';
import { mapsText, smapsText, stackAddress } from './at-smaps.ts';

const mappings = [
  exampleMapping(),
  exampleMapping({
    start: 'ffffffffff600000',
    end: 'ffffffffff601000',
    perms: '--xp',
    inode: 9_007_199_254_740_991,
    dev: 'fe:01',
    path: '/srv/caf\u00e9 data/lib (deleted)',
  }),
  // A name that is not UTF-8: the exact bytes travel in pathBase64.
  exampleMapping({
    path: '/tmp/\ufffd',
    pathBase64: Buffer.from('/tmp/\xff', 'latin1').toString('base64'),
  }),
  exampleMapping({ path: '', start: '7ffd0000', end: '7ffd2000' }),
  exampleMapping({ path: '[stack]', start: '7ffe1000', end: '7ffe3000', vmFlags: [] }),
];

describe('stored maps back into /proc text', () => {
  it('reads back through the procfs parser as the agent sent it', () => {
    const parsed = parseSmaps(smapsText(mappings, true), 'smaps');
    expect(parsed).toHaveLength(mappings.length);
    parsed.forEach((e, i) => {
      const m = mappings[i] as (typeof mappings)[number];
      expect(e.start).toBe(m.start);
      expect(e.end).toBe(m.end);
      expect(e.inode).toBe(String(m.inode));
      expect(e.path).toBe(
        m.pathBase64 === undefined
          ? Buffer.from(m.path, 'utf8').toString('latin1')
          : Buffer.from(m.pathBase64, 'base64').toString('latin1'),
      );
      expect(e.kb).toEqual(m.kb);
      expect(e.extra).toEqual(m.extra);
      expect(e.vmFlags ?? []).toEqual(m.vmFlags);
    });
    expect(parseMaps(mapsText(mappings, true), 'maps').map((e) => e.path)).toEqual(
      parsed.map((e) => e.path),
    );
  });

  it('lays lines out like the kernel: name in column 74, values right-aligned to column 24', () => {
    const text = smapsText([mappings[0] as (typeof mappings)[number]], true).split('\n');
    expect(text[0]).toBe(`55d4a3c00000-55d4a3c21000 rw-p 00000000 00:00 0${' '.repeat(26)}[heap]`);
    expect(text[1]).toBe('Size:                132 kB');
    expect(text.at(-3)).toBe('ProtectionKey:         0');
    expect(text.at(-2)).toBe('VmFlags: rd wr mr mw me ac ');
    expect(mapsText([mappings[3] as (typeof mappings)[number]], true)).toBe(
      '7ffd0000-7ffd2000 rw-p 00000000 00:00 0 \n',
    );
  });

  it('places the stack address inside the [stack] mapping', () => {
    expect(stackAddress(mappings)).toBe(0x7ffe2000n);
    expect(stackAddress([])).toBe(0n);
  });
});
