import { describe, expect, it } from 'vitest';
import { renderMapsTable } from './maps-table.ts';
import { FULL_RANGE, type PmapOptions, type PmapProcess } from './options.ts';
import { mapLine } from './test-lines.ts';

const MAPS = [
  mapLine('5604847ef000-5604847f1000', 'r--p', '00000000', 'fe:00', '260875', '/usr/bin/sleep'),
  mapLine('5604847f1000-5604847f6000', 'r-xp', '00002000', 'fe:00', '260875', '/usr/bin/sleep'),
  mapLine('5604b4ad3000-5604b4af4000', 'rw-p', '00000000', '00:00', '0', '[heap]'),
  mapLine(
    '7fcf88707000-7fcf8870e000',
    'r--s',
    '00000000',
    'fe:00',
    '271',
    '/usr/lib/locale/gconv-modules.cache',
  ),
  mapLine(
    '7fdd810ca000-7fdd810da000',
    'rw-s',
    '00000000',
    '00:01',
    '557066',
    '/SYSV00000000 (deleted)',
  ),
  mapLine('7fdd810da000-7fdd810db000', 'rw-p', '00000000', '00:00', '0', '[anon:with/slash]'),
  mapLine('7ffc3eb05000-7ffc3eb26000', 'rw-p', '00000000', '00:00', '0', '[stack]'),
  mapLine('ffffffffff600000-ffffffffff601000', '--xp', '00000000', '00:00', '0', '[vsyscall]'),
].join('\n');

const proc = (mapText: string | null, startStack = 0x7ffc3eb26000n): PmapProcess => ({
  tgid: 4691,
  command: 'sleep 1000',
  startStack,
  mapText: mapText === null ? null : `${mapText}\n`,
});

function render(p: PmapProcess, opts: Partial<PmapOptions> = {}): { text: string; status: number } {
  let text = '';
  const status = renderMapsTable(
    p,
    { mode: 'default', quiet: false, showPath: false, range: FULL_RANGE, shmMinor: 1, ...opts },
    (s) => {
      text += s;
    },
  );
  return { text, status };
}

describe('default layout', () => {
  it('prints the reference rows, labels and total', () => {
    expect(render(proc(MAPS)).text).toBe(
      [
        '4691:   sleep 1000',
        '00005604847ef000      8K r---- sleep',
        '00005604847f1000     20K r-x-- sleep',
        '00005604b4ad3000    132K rw---   [ anon ]',
        '00007fcf88707000     28K r--s- gconv-modules.cache',
        '00007fdd810ca000     64K rw-s-   [ shmid=0x8800a ]',
        '00007fdd810da000      4K rw--- slash]',
        '00007ffc3eb05000    132K rw---   [ stack ]',
        'ffffffffff600000      4K --x--   [ anon ]',
        ' total              392K',
        '',
      ].join('\n'),
    );
  });

  it('shows the path from the first / with -p, and labels stay as they are', () => {
    const lines = render(proc(MAPS), { showPath: true }).text.split('\n');
    expect(lines[1]).toBe('00005604847ef000      8K r---- /usr/bin/sleep');
    expect(lines[6]).toBe('00007fdd810da000      4K rw--- /slash]');
    expect(lines[3]).toBe('00005604b4ad3000    132K rw---   [ anon ]');
  });

  it('does not label SysV memory on another minor', () => {
    const lines = render(proc(MAPS), { shmMinor: 5 }).text.split('\n');
    expect(lines[5]).toBe('00007fdd810ca000     64K rw-s- SYSV00000000 (deleted)');
  });

  it('labels a mapping that ends exactly at startstack as the stack', () => {
    const lines = render(proc(MAPS, 0x5604b4af4000n)).text.split('\n');
    expect(lines[3]).toBe('00005604b4ad3000    132K rw---   [ stack ]');
  });

  it('lets a huge size overflow its column', () => {
    const big = mapLine('75866f200000-7f866f200000', '---p', '00000000', '00:00', '0');
    expect(render(proc(big)).text).toBe(
      '4691:   sleep 1000\n000075866f200000 10737418240K -----   [ anon ]\n total      10737418240K\n',
    );
  });

  it('prints only the header line when the map cannot be opened (status 1)', () => {
    expect(render(proc(null))).toEqual({ text: '4691:   sleep 1000\n', status: 1 });
  });

  it('omits column header and footer with -q', () => {
    const out = render(proc(MAPS), { quiet: true }).text.split('\n');
    expect(out).toHaveLength(10);
    expect(out[8]).toBe('ffffffffff600000      4K --x--   [ anon ]');
  });

  it('shows mappings overlapping [LOW, HIGH] whole and totals only those', () => {
    const range = { low: 0x5604847f0000n, high: 0x5604b4ad3000n };
    expect(render(proc(MAPS), { range }).text).toBe(
      [
        '4691:   sleep 1000',
        '00005604847ef000      8K r---- sleep',
        '00005604847f1000     20K r-x-- sleep',
        '00005604b4ad3000    132K rw---   [ anon ]',
        ' total              160K',
        '',
      ].join('\n'),
    );
  });
});

describe('-d layout', () => {
  it('prints offset and device, and the mapped/writeable/shared footer', () => {
    const odd = mapLine('00007000-00008000', 'r--p', '123456789', '103:1a', '5', '/srv/dir/');
    const text = render(proc(`${MAPS}\n${odd}`), { mode: 'device' }).text.split('\n');
    expect(text[1]).toBe('Address           Kbytes Mode  Offset           Device    Mapping');
    expect(text[2]).toBe('00005604847ef000       8 r---- 0000000000000000 0fe:00000 sleep');
    expect(text[6]).toBe(
      '00007fdd810ca000      64 rw-s- 0000000000000000 000:00001   [ shmid=0x8800a ]',
    );
    expect(text[10]).toBe('0000000000007000       4 r---- 0000000123456789 103:0001a /');
    expect(text[11]).toBe('mapped: 396K    writeable/private: 268K    shared: 92K');
  });
});

describe('-x layout', () => {
  const smaps = [
    mapLine('10000000-10004000', 'rw-p', '00000000', '00:00', '0'),
    'Size:                 16 kB',
    'Rss:                  16 kB',
    'Shared_Dirty:          0 kB',
    'Private_Dirty:        16 kB',
    'Swap:                  0 kB',
    'SwapPss:               0 kB',
    mapLine('10010000-10011000', 'r--p', '00000000', 'fe:00', '42', '/opt/data/file name  two.bin'),
    'Rss:                   4 kB',
    'Shared_Dirty:          0 kB',
    'Private_Dirty:         0 kB',
    'Swap:                  0 kB',
    'VmFlags: rd mr mw me',
  ].join('\n');

  it('prints a row at each Swap: line with Rss and Dirty', () => {
    expect(render(proc(smaps), { mode: 'extended' }).text).toBe(
      [
        '4691:   sleep 1000',
        'Address           Kbytes     RSS   Dirty Mode  Mapping',
        '0000000010000000      16      16      16 rw---   [ anon ]',
        '0000000010010000       4       4       0 r---- file name  two.bin',
        '---------------- ------- ------- ------- ',
        'total kB              20      20      16',
        '',
      ].join('\n'),
    );
  });

  it('adds the Rss of mappings below LOW to the totals, as pmap does', () => {
    const range = { low: 0x10010000n, high: 0x10020000n };
    const lines = render(proc(smaps), { mode: 'extended', range }).text.split('\n');
    expect(lines.slice(2)).toEqual([
      '0000000010010000       4       4       0 r---- file name  two.bin',
      '---------------- ------- ------- ------- ',
      'total kB               4      20      16',
      '',
    ]);
  });

  it('prints header, separator and zero totals for an empty smaps', () => {
    expect(render(proc(''), { mode: 'extended' }).text).toBe(
      '4691:   sleep 1000\nAddress           Kbytes     RSS   Dirty Mode  Mapping\n---------------- ------- ------- ------- \ntotal kB               0       0       0\n',
    );
  });

  it('sorts rows by a column with --sort, largest first', () => {
    const lines = render(proc(smaps), { mode: 'extended', sort: 'rss', quiet: true }).text.split(
      '\n',
    );
    expect(lines[1]?.startsWith('0000000010000000')).toBe(true);
    const asc = render(proc(smaps), { mode: 'extended', sort: 'mapping', quiet: true }).text;
    expect(asc.split('\n')[1]?.startsWith('0000000010000000')).toBe(true);
  });

  it('shows what the later lines left in the line buffer when a name starts early (pmap 4.0.2)', () => {
    // Output checked against the real pmap on these bytes (bind-mounted over a live smaps).
    const short = [
      '1000-2000 r--p 0 fe:0 5 /x/yy',
      'Rss:                   4 kB',
      'Shared_Dirty:          0 kB',
      'Private_Dirty:         0 kB',
      'Swap:                  0 kB',
      '3000-4000 r--p 0 fe:0 5 /averyveryveryveryverylongdirectoryname/f',
      'Rss: 4 kB',
      'Swap: 0 kB',
    ].join('\n');
    const rows = (showPath: boolean) =>
      render(proc(short), { mode: 'extended', quiet: true, showPath }).text.split('\n').slice(1);
    expect(rows(false)).toEqual([
      '0000000000001000       4       4       0 r---- ',
      '',
      '0000000000003000       4       4       0 r---- f',
      '',
    ]);
    expect(rows(true)[0]).toBe('0000000000001000       4       4       0 r----  kB');
  });
});
