// Hand-made smaps/maps content for the reference's §17.17 fixtures: shapes a live process cannot
// be made to show on demand (odd device numbers, wide offsets, [anon:…] names, broken blocks).
// The text follows the kernel's own layout (fs/proc/task_mmu.c) so only the intended oddity differs.

export interface SyntheticMapping {
  start: bigint;
  end: bigint;
  perms: string;
  offset?: bigint;
  major?: number;
  minor?: number;
  inode?: number | bigint;
  name?: string;
  rssKb?: number;
  dirtyKb?: number;
  /** Extra detail lines appended after THPeligible, e.g. `['ProtectionKey', 0]`. */
  extraKeys?: [key: string, value: number][];
  /** A detail key left out of this block (the "inconsistent detail field" error). */
  omitKey?: string;
  /** A raw line inserted after VmFlags (e.g. `Weird: abc`). */
  strayLine?: string;
  thpEligible?: number;
  /** VmFlags text instead of the one derived from perms; null leaves the line out. */
  vmFlags?: string | null;
}

const hex = (value: bigint, width: number) => value.toString(16).padStart(width, '0');

export function mapsLine(m: SyntheticMapping): string {
  const dev = `${(m.major ?? 0).toString(16).padStart(2, '0')}:${(m.minor ?? 0).toString(16).padStart(2, '0')}`;
  const prefix = `${hex(m.start, 8)}-${hex(m.end, 8)} ${m.perms} ${hex(m.offset ?? 0n, 8)} ${dev} ${m.inode ?? 0} `;
  // The kernel pads the name to column 73 (seq_pad after a 72-wide prefix).
  return m.name === undefined || m.name === '' ? prefix : `${prefix.padEnd(73)}${m.name}`;
}

export function detail(key: string, value: number, unit = ' kB'): string {
  return `${`${key}:`.padEnd(16)}${String(value).padStart(8)}${unit}`;
}

export function smapsBlock(m: SyntheticMapping): string[] {
  const sizeKb = Number((m.end - m.start) / 1024n);
  const rss = m.rssKb ?? 0;
  const dirty = m.dirtyKb ?? 0;
  const shared = m.perms[3] === 's';
  const values: [string, number][] = [
    ['Size', sizeKb],
    ['KernelPageSize', 4],
    ['MMUPageSize', 4],
    ['Rss', rss],
    ['Pss', shared ? Math.floor(rss / 2) : rss],
    ['Pss_Dirty', shared ? Math.floor(dirty / 2) : dirty],
    ['Shared_Clean', shared ? rss - dirty : 0],
    ['Shared_Dirty', shared ? dirty : 0],
    ['Private_Clean', shared ? 0 : rss - dirty],
    ['Private_Dirty', shared ? 0 : dirty],
    ['Referenced', rss],
    ['Anonymous', m.inode ? 0 : dirty],
    ['KSM', 0],
    ['LazyFree', 0],
    ['AnonHugePages', 0],
    ['ShmemPmdMapped', 0],
    ['FilePmdMapped', 0],
    ['Shared_Hugetlb', 0],
    ['Private_Hugetlb', 0],
    ['Swap', 0],
    ['SwapPss', 0],
    ['Locked', 0],
  ];
  const lines = [mapsLine(m)];
  for (const [key, value] of values) if (key !== m.omitKey) lines.push(detail(key, value));
  if (m.omitKey !== 'THPeligible') lines.push(detail('THPeligible', m.thpEligible ?? 0, ''));
  for (const [key, value] of m.extraKeys ?? []) lines.push(detail(key, value, ''));
  const flags = ['rd', m.perms[1] === 'w' ? 'wr' : '', m.perms[2] === 'x' ? 'ex' : '']
    .filter(Boolean)
    .concat(shared ? ['sh', 'mr', 'mw', 'me', 'ms'] : ['mr', 'mw', 'me']);
  if (m.vmFlags !== null) lines.push(`VmFlags: ${m.vmFlags ?? flags.join(' ')} `);
  if (m.strayLine !== undefined) lines.push(m.strayLine);
  return lines;
}

export function renderMaps(mappings: SyntheticMapping[]): Buffer {
  return Buffer.from(mappings.map((m) => `${mapsLine(m)}\n`).join(''), 'latin1');
}

export function renderSmaps(mappings: SyntheticMapping[]): Buffer {
  return Buffer.from(
    mappings
      .flatMap(smapsBlock)
      .map((line) => `${line}\n`)
      .join(''),
    'latin1',
  );
}

/** Returns `stat` with field 28 (startstack) replaced. */
export function withStartStack(stat: Buffer, startStack: bigint): Buffer {
  const text = stat.toString('latin1');
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // Field 3 (state) is fields[0], so field 28 is fields[25].
  fields[25] = startStack.toString(10);
  return Buffer.from(`${text.slice(0, close + 2)}${fields.join(' ')}`, 'latin1');
}

const vsyscall: SyntheticMapping = {
  start: 0xffffffffff600000n,
  end: 0xffffffffff601000n,
  perms: '--xp',
  name: '[vsyscall]',
};

/** Start of the synthetic main stack; `startStack` points at its top. */
export const stackStart = 0x7ffd00000000n;
export const stackTop = 0x7ffd00021000n;

/** Every odd shape of §17.17 that pmap renders without an error. */
export function oddShapes(): SyntheticMapping[] {
  return [
    {
      start: 0x7000n,
      end: 0x8000n,
      perms: 'r--p',
      offset: 0x123456789n,
      major: 0x103,
      minor: 0x1a,
      inode: 42,
      name: '/srv/data/',
      rssKb: 4,
    },
    {
      start: 0x9000n,
      end: 0xa000n,
      perms: 'r--s',
      major: 0xfff,
      minor: 0xfffff,
      inode: 4294967295,
      name: '/dev/odd device',
      rssKb: 4,
    },
    { start: 0x123456000n, end: 0x123458000n, perms: 'rw-p', rssKb: 8, dirtyKb: 8 },
    {
      start: 0x7f0000000000n,
      end: 0x7f0000004000n,
      perms: 'rw-p',
      name: '[anon:name]',
      rssKb: 16,
      dirtyKb: 16,
    },
    {
      start: 0x7f0000004000n,
      end: 0x7f0000006000n,
      perms: 'rw-p',
      name: '[anon:with/slash]',
      rssKb: 4,
      dirtyKb: 4,
    },
    {
      start: 0x7f0000006000n,
      end: 0x7f0000016000n,
      perms: 'rw-s',
      minor: 1,
      inode: 2050,
      name: '[anon_shmem:ring buffer]',
      rssKb: 64,
      dirtyKb: 64,
    },
    {
      start: 0x7f0000016000n,
      end: 0x7f0000026000n,
      perms: 'rw-s',
      minor: 1,
      inode: 557066,
      name: '/SYSV00000000 (deleted)',
      rssKb: 64,
      dirtyKb: 64,
    },
    {
      start: 0x7f0000026000n,
      end: 0x7f0000036000n,
      perms: 'rw-s',
      minor: 5,
      inode: 557067,
      name: '/SYSV0000abcd (deleted)',
      rssKb: 32,
      dirtyKb: 32,
    },
    { start: 0x7f0000036000n, end: 0x7f0000037000n, perms: '-w-p', rssKb: 0 },
    {
      start: 0x7f0000037000n,
      end: 0x7f0000038000n,
      perms: 'rwxp',
      name: '/opt/jit code.bin',
      major: 0xfe,
      inode: 99,
      rssKb: 4,
      dirtyKb: 4,
    },
    // Ends exactly where startstack points: pmap's inclusive test labels it [ stack ] too.
    { start: stackStart - 0x2000n, end: stackStart, perms: 'rw-p', rssKb: 8, dirtyKb: 8 },
    { start: stackStart, end: stackTop, perms: 'rw-p', name: '[stack]', rssKb: 20, dirtyKb: 20 },
    vsyscall,
  ];
}

/** A pkeys-capable machine adds ProtectionKey to every block. */
export function protectionKeyShapes(): SyntheticMapping[] {
  return oddShapes().map((m) => ({ ...m, extraKeys: [['ProtectionKey', 0]] }));
}

/** A stray `Weird: abc` line: -X fails with "Unknown format", -x skips it as a key line. */
export function strayLineShapes(): SyntheticMapping[] {
  return oddShapes().map((m, index) => (index === 2 ? { ...m, strayLine: 'Weird: abc' } : m));
}

/** The third block lacks Pss: -X reports an inconsistent detail field. */
export function missingKeyShapes(): SyntheticMapping[] {
  return oddShapes().map((m, index) => (index === 2 ? { ...m, omitKey: 'Pss' } : m));
}

/** A later block with one more key at its end: -X/-XX append it as a new column. */
export function extraKeyShapes(): SyntheticMapping[] {
  return oddShapes().map((m, index) => (index === 4 ? { ...m, extraKeys: [['Extra_Key', 7]] } : m));
}

/** A later block without its last key: pmap repeats the previous block's value there. */
export function shortBlockShapes(): SyntheticMapping[] {
  return oddShapes().map((m, index) => (index === 3 ? { ...m, omitKey: 'THPeligible' } : m));
}

/** Returns `stat` with its comm (between the first `(` and the last `)`) and state replaced. */
export function withComm(stat: Buffer, comm: Buffer, state: string): Buffer {
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  const rest = stat
    .subarray(close + 2)
    .toString('latin1')
    .split(' ');
  rest[0] = state;
  return Buffer.concat([
    stat.subarray(0, open + 1),
    comm,
    Buffer.from(`) ${rest.join(' ')}`, 'latin1'),
  ]);
}

export interface SyntheticHeader {
  cmdline: Buffer;
  /** Replaces the comm in stat (used when cmdline is empty). */
  comm?: Buffer;
  state?: string;
}

/** Header-line inputs of reference §2: cmdline edge forms, and comm/state for empty cmdlines. */
export function headerShapes(): SyntheticHeader[] {
  const b = (text: string) => Buffer.from(text, 'latin1');
  return [
    { cmdline: b(''), comm: b('a) (b ) c'), state: 'S' },
    { cmdline: b(''), comm: b('k'.repeat(63)), state: 'S' },
    { cmdline: b(''), comm: b('\xc3\xa9\xe2\x82\xac\t\x7f'), state: 'Z' },
    { cmdline: b(''), comm: b('\xffx\ty'), state: 'Z' },
    { cmdline: b(''), comm: b(''), state: 'S' },
    { cmdline: b('a\0b\n') },
    { cmdline: b('x \0\0') },
    { cmdline: b('x ') },
    { cmdline: b('\0\0\0') },
    { cmdline: b('\xc3\xa9\0\xe2\x82') },
    { cmdline: b('\n') },
    { cmdline: b('\x01\x1f\x7f\x80\xc2\xa0') },
    { cmdline: b('tab\there\0\xf0\x9f\x98\x80\0\xf5x') },
  ];
}

/** cmdline lengths around pmap's 131071-byte cut. */
export function bigHeaderShapes(): SyntheticHeader[] {
  const fill = (length: number, withNuls: boolean) =>
    Buffer.from(
      Array.from({ length }, (_, i) => (withNuls && i % 1000 === 999 ? '\0' : 'a')).join(''),
      'latin1',
    );
  return [
    { cmdline: fill(131071, false) },
    { cmdline: fill(131072, false) },
    { cmdline: fill(200000, true) },
  ];
}

/** Width corners of -X/-XX: huge values, the 127-byte cut, odd names, long flags. */
export function widthShapes(): SyntheticMapping[] {
  const file = { major: 0xfe, minor: 0, inode: 1234 };
  return [
    {
      start: 0x400000n,
      end: 0x401000n,
      perms: 'r-xp',
      ...file,
      name: '/usr/bin/x',
      rssKb: 123456789,
      thpEligible: 1,
    },
    {
      start: 0x401000n,
      end: 0x402000n,
      perms: 'r--p',
      ...file,
      name: `/p/${'q'.repeat(120)}/abc`,
      rssKb: 4,
    },
    {
      start: 0x402000n,
      end: 0x403000n,
      perms: 'r--p',
      ...file,
      name: `/p/${'q'.repeat(120)}/abcd`,
      rssKb: 4,
    },
    {
      start: 0x403000n,
      end: 0x404000n,
      perms: 'r--p',
      ...file,
      name: `/p/${'r'.repeat(123)}/`,
      rssKb: 4,
    },
    { start: 0x404000n, end: 0x405000n, perms: 'r--p', ...file, name: '/tmp/trail  ', rssKb: 4 },
    { start: 0x405000n, end: 0x406000n, perms: 'r--p', ...file, name: '/tmp/ lead', rssKb: 4 },
    {
      start: 0x406000n,
      end: 0x407000n,
      perms: 'r--p',
      major: 0xfe,
      inode: 18446744073709551615n,
      name: '/big/inode',
      rssKb: 4,
    },
    {
      start: 0x407000n,
      end: 0x408000n,
      perms: 'r--s',
      ...file,
      offset: 0xffffffffffff000n,
      name: '/dev/mem',
      rssKb: 4,
    },
    {
      start: 0x7f0000000000n,
      end: 0x7f0000001000n,
      perms: 'rw-p',
      rssKb: 4,
      dirtyKb: 4,
      vmFlags: 'rd wr mr mw me ac sd nr ht ar dd mm hg nh mg um uw ss sl',
    },
    {
      start: 0x7f0000001000n,
      end: 0x7f0000002000n,
      perms: 'rw-p',
      rssKb: 4,
      dirtyKb: 4,
      vmFlags: null,
    },
    {
      start: 0x7ffd00000000n,
      end: 0x7ffd00021000n,
      perms: 'rw-p',
      name: '[stack]',
      rssKb: 20,
      dirtyKb: 20,
    },
  ];
}
