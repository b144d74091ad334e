import { describe, expect, it } from 'vitest';
import { ProcfsParseError } from './errors.ts';
import { parseMaps } from './maps.ts';
import { parseSmaps, SmapsParser } from './smaps.ts';

const pad = (head: string, path: string) => (path ? `${head.padEnd(72)} ${path}` : `${head} `);

const BLOCK = [
  'Size:                  8 kB',
  'Rss:                   4 kB',
  'Pss:                   2 kB',
  'KSM:                   0 kB',
  'THPeligible:           0',
  'ProtectionKey:         0',
  'VmFlags: rd mr mw me ',
].join('\n');

function smaps(...heads: [string, string][]): string {
  return heads.map(([h, p]) => `${pad(h, p)}\n${BLOCK}\n`).join('');
}

describe('parseSmaps', () => {
  it('keeps every field, unknown ones included, in kernel order', () => {
    const [e] = parseSmaps(smaps(['7f0000000000-7f0000002000 rw-p 00000000 00:00 0', '']), 'f');
    expect(e).toMatchObject({
      start: '7f0000000000',
      end: '7f0000002000',
      perms: 'rw-p',
      offset: '00000000',
      dev: '00:00',
      inode: '0',
      path: '',
      line: 1,
      kb: { Size: 8, Rss: 4, Pss: 2, KSM: 0 },
      extra: { THPeligible: '0', ProtectionKey: '0' },
      vmFlags: ['rd', 'mr', 'mw', 'me'],
    });
    expect(e?.fieldOrder).toEqual(['Size', 'Rss', 'Pss', 'KSM', 'THPeligible', 'ProtectionKey']);
  });

  it('keeps odd paths byte for byte and shares the layout array', () => {
    const paths = [
      '/tmp/dir with space/file name  two.bin (deleted)',
      '/tmp/new\\012line',
      '/tmp/\xff\xfe\x7f\ttab',
      '[anon:my name]',
      '/memfd:buf (deleted)',
      '/SYSV00000000 (deleted)',
      '[anon_shmem:x]',
    ];
    const text = smaps(
      ...paths.map((p, i): [string, string] => [
        `5600000${i}0000-5600000${i}1000 rw-s 00000000 00:01 ${1000 + i}`,
        p,
      ]),
    );
    const entries = parseSmaps(text, 'f');
    expect(entries.map((e) => e.path)).toEqual(paths);
    expect(entries.map((e) => e.line)).toEqual(paths.map((_, i) => 1 + i * 8));
    expect(new Set(entries.map((e) => e.fieldOrder)).size).toBe(1);
  });

  it('puts a stray Key: value line into extra and fieldOrder', () => {
    const text = `${pad('00400000-00401000 r--p 00000000 fe:00 12', '/bin/x')}\nSize:  4 kB\nWeird: abc\nRss:  4 kB\n`;
    const [e] = parseSmaps(text, 'f');
    expect(e?.extra).toEqual({ Weird: 'abc' });
    expect(e?.fieldOrder).toEqual(['Size', 'Weird', 'Rss']);
  });

  it('names the file and line of a malformed line', () => {
    const text = `${smaps(['00400000-00401000 r--p 00000000 fe:00 12', '/bin/x'])}garbage here\n`;
    const err = (() => {
      try {
        parseSmaps(text, '/proc/42/smaps');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ProcfsParseError);
    expect(err).toMatchObject({ file: '/proc/42/smaps', line: 9, retryable: false });
    expect(String((err as Error).message)).toContain('/proc/42/smaps line 9');
  });

  it('rejects a field line before any mapping and a repeated field', () => {
    expect(() => parseSmaps('Rss: 4 kB\n', 'f')).toThrow(ProcfsParseError);
    const dup = `${pad('00400000-00401000 r--p 00000000 fe:00 12', '/x')}\nRss: 4 kB\nRss: 4 kB\n`;
    expect(() => parseSmaps(dup, 'f')).toThrow(/line 3/);
  });

  it('gives the same entries whatever the chunking', () => {
    const text = smaps(
      ['00400000-00401000 r--p 00000000 fe:00 12', '/bin/x'],
      ['7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0', '[stack]'],
    );
    const whole = parseSmaps(text, 'f');
    for (const size of [1, 2, 7, 64]) {
      const out: unknown[] = [];
      const p = new SmapsParser('f', (e) => out.push(e));
      for (let i = 0; i < text.length; i += size) p.write(text.slice(i, i + size));
      p.end();
      expect(out).toEqual(whole);
    }
  });
});

describe('parseMaps', () => {
  it('parses anonymous, named and high-address lines', () => {
    const text = [
      '55c80267c000-55c80268c000 rw-p 00000000 00:00 0 ',
      pad('55c80eeb7000-55c80eef9000 rw-p 00000000 00:00 0', '[heap]'),
      pad('ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0', '[vsyscall]'),
      '',
    ].join('\n');
    const m = parseMaps(text, 'maps');
    expect(m.map((e) => [e.start, e.end, e.path, e.line])).toEqual([
      ['55c80267c000', '55c80268c000', '', 1],
      ['55c80eeb7000', '55c80eef9000', '[heap]', 2],
      ['ffffffffff600000', 'ffffffffff601000', '[vsyscall]', 3],
    ]);
    expect(parseMaps('', 'maps')).toEqual([]);
  });

  it('rejects malformed mapping lines with a typed error', () => {
    for (const bad of [
      '00400000 r--p 00000000 fe:00 12',
      '00400000-00401000 rzxp 00000000 fe:00 12',
      '00400000-00401000 r--p 00000000 fe00 12',
      '00400000-00401000 r--p 00000000 fe:00 x',
      'Size: 4 kB',
    ]) {
      expect(() => parseMaps(`${bad}\n`, 'maps'), bad).toThrow(ProcfsParseError);
    }
  });
});
