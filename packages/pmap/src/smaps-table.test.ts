import { describe, expect, it } from 'vitest';
import { PmapFormatError } from './errors.ts';
import { FULL_RANGE, type PmapOptions, type PmapProcess } from './options.ts';
import { renderSmapsTable } from './smaps-table.ts';
import { mapLine } from './test-lines.ts';

function block(size: number, rss: number, pss: number, dirty: number, flags: string): string[] {
  return [
    `Size:           ${String(size).padStart(8)} kB`,
    'KernelPageSize:        4 kB',
    'MMUPageSize:           4 kB',
    `Rss:            ${String(rss).padStart(8)} kB`,
    `Pss:            ${String(pss).padStart(8)} kB`,
    'Shared_Clean:          0 kB',
    'Shared_Dirty:          0 kB',
    `Private_Clean:  ${String(rss - dirty).padStart(8)} kB`,
    `Private_Dirty:  ${String(dirty).padStart(8)} kB`,
    'Swap:                  0 kB',
    'THPeligible:    0',
    `VmFlags: ${flags} `,
  ];
}

const SMAPS = [
  mapLine('5604847ef000-5604847f1000', 'r--p', '00000000', 'fe:00', '260875', '/usr/bin/sleep'),
  ...block(8, 8, 8, 0, 'rd mr mw me'),
  mapLine('7fcf88521000-7fcf88524000', 'rw-p', '00000000', '00:00', '0'),
  ...block(12, 8, 8, 8, 'rd wr mr mw me ac'),
  mapLine(
    '7fcf88530000-7fcf88531000',
    'rw-s',
    '00000000',
    '00:01',
    '557066',
    '/SYSV00000000 (deleted)',
  ),
  ...block(4, 4, 2, 4, 'rd wr sh mr mw me ms'),
].join('\n');

const proc = (mapText: string): PmapProcess => ({
  tgid: 4691,
  command: 'sleep 1000',
  startStack: 0n,
  mapText: `${mapText}\n`,
});

function render(text: string, opts: Partial<PmapOptions> = {}): string {
  let out = '';
  renderSmapsTable(
    proc(text),
    { mode: 'X', quiet: false, showPath: false, range: FULL_RANGE, shmMinor: 1, ...opts },
    (s) => {
      out += s;
    },
  );
  return out;
}

describe('-X layout', () => {
  it('shows the -X columns, kernel names, a trailing space for anonymous rows and the totals', () => {
    expect(render(SMAPS)).toBe(
      [
        '4691:   sleep 1000',
        '     Address Perm   Offset Device  Inode Size Rss Pss Swap THPeligible Mapping',
        '5604847ef000 r--p 00000000  fe:00 260875    8   8   8    0           0 sleep',
        '7fcf88521000 rw-p 00000000  00:00      0   12   8   8    0           0 ',
        '7fcf88530000 rw-s 00000000  00:01 557066    4   4   2    0           0 SYSV00000000 (deleted)',
        `${' '.repeat(41)}==== === === ==== =========== `,
        `${' '.repeat(41)}  24  20  18    0           0 KB `,
        '',
      ].join('\n'),
    );
  });

  it('shows every key and right-aligned VmFlags with -XX', () => {
    const lines = render(SMAPS, { mode: 'XX' }).split('\n');
    expect(lines[1]).toBe(
      '     Address Perm   Offset Device  Inode Size KernelPageSize MMUPageSize Rss Pss Shared_Clean Shared_Dirty Private_Clean Private_Dirty Swap THPeligible              VmFlags Mapping',
    );
    expect(lines[2]?.endsWith('          0          rd mr mw me sleep')).toBe(true);
  });

  it('sizes columns from the values alone and prints no heading or footer with -q', () => {
    expect(render(SMAPS, { quiet: true }).split('\n')[1]).toBe(
      '5604847ef000 r--p 00000000 fe:00 260875  8 8 8 0 0 sleep',
    );
  });

  it('prints the whole description with -p and cuts it at 127 bytes before taking the basename', () => {
    const long = `/srv/${'a'.repeat(40)}/${'b'.repeat(100)}/x.bin`;
    const text = [
      mapLine('10000000-10001000', 'r--p', '00000000', 'fe:00', '7', long),
      ...block(4, 4, 4, 0, 'rd'),
    ].join('\n');
    const row = render(text).split('\n')[2] ?? '';
    expect(row.endsWith(` ${'b'.repeat(81)}`)).toBe(true);
    expect(
      render(text, { showPath: true })
        .split('\n')[2]
        ?.endsWith(` ${long.slice(0, 127)}`),
    ).toBe(true);
  });

  it('shows only the rc file columns, and no Mapping column unless listed', () => {
    const out = render(SMAPS, { mode: 'rc', rcFields: new Set(['Rss']) }).split('\n');
    expect(out[1]).toBe('     Address Rss ');
    expect(out[2]).toBe('5604847ef000   8');
    expect(out[5]).toBe('             === ');
    expect(render(SMAPS, { mode: 'rc', rcFields: new Set() }).split('\n').slice(1)).toEqual([
      '     Address ',
      '5604847ef000',
      '7fcf88521000',
      '7fcf88530000',
      '',
    ]);
  });

  it('stops with "Unknown format" on a stray line, after the header line', () => {
    let out = '';
    const bad = SMAPS.replace('THPeligible:    0', 'THPeligible:    0\nWeird: abc');
    expect(() =>
      renderSmapsTable(
        proc(bad),
        { mode: 'X', quiet: false, showPath: false, range: FULL_RANGE, shmMinor: 1 },
        (s) => {
          out += s;
        },
      ),
    ).toThrow(new PmapFormatError('Unknown format in smaps file!'));
    expect(out).toBe('4691:   sleep 1000\n');
  });

  it('echoes the line of a key out of place', () => {
    const bad = SMAPS.replace(/(7fcf88521000[^\n]*\n)Size: {11}/, '$1Rss:            ');
    expect(() => render(bad)).toThrow(
      new PmapFormatError(
        'ERROR: inconsistent detail field in smaps file, line:\n Rss:                  12 kB\n',
      ),
    );
  });

  it('orders rows by a column with --sort', () => {
    const lines = render(SMAPS, { sort: 'size', quiet: true }).split('\n');
    expect(lines.slice(1, 4).map((l) => l.slice(0, 12))).toEqual([
      '7fcf88521000',
      '5604847ef000',
      '7fcf88530000',
    ]);
  });
});
