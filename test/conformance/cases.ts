// The conformance cases of the pmap reference's §17: which processes to start, which /proc files
// to freeze, and which command lines to run against both the real pmap and fleetpmap.

import type { ProcSnapshot } from './freeze.ts';
import {
  bigHeaderShapes,
  extraKeyShapes,
  headerShapes,
  missingKeyShapes,
  oddShapes,
  protectionKeyShapes,
  renderMaps,
  renderSmaps,
  type SyntheticHeader,
  type SyntheticMapping,
  shortBlockShapes,
  stackStart,
  strayLineShapes,
  widthShapes,
  withComm,
  withStartStack,
} from './synthetic.ts';

export interface ProcessSpec {
  /** `scenario`/`scenario-nopie` take `args` (`@DIR@` is the case's scratch directory). */
  kind: 'scenario' | 'scenario-nopie' | 'sleep' | 'python';
  args?: string[];
}

/**
 * How the expected output is obtained.
 * - `pmap`: the real pmap, same arguments, same frozen files.
 * - `per-pid`: the real pmap once per PID argument, outputs concatenated and exit codes OR-ed.
 *   Used for multi-PID -X/-XX, where fleetpmap deliberately starts totals and widths afresh for
 *   each PID (reference §18.1) while 4.0.2 accumulates them.
 * - `whole-lines`: the real pmap on a copy of the frozen files whose >1023-byte path is shortened,
 *   with the path put back into its output: what pmap prints when it reads lines whole, which
 *   fleetpmap deliberately does (reference §18.2) instead of 4.0.2's 1023-byte chunks.
 */
export type Expectation = 'pmap' | 'per-pid' | 'whole-lines';

export interface RunSpec {
  /** Unique within its case, stable across runs (file names of goldens). */
  id: string;
  flags: string[];
  targets: string[];
  locale?: 'C' | 'C.UTF-8';
  /** Locale variables set instead of LC_ALL (setlocale's LC_ALL > LC_CTYPE > LANG order). */
  localeVars?: Record<string, string>;
  expect?: Expectation;
  stdoutToDevFull?: boolean;
  /** Run as nobody without frozen files (the EACCES paths); never stored as golden. */
  asNobody?: boolean;
  /** Run without HOME in the environment. */
  noHome?: boolean;
  /** Set LIBPROC_HIDE_KERNEL=1, which makes pmap treat kernel threads as missing. */
  hideKernel?: boolean;
  /** Files created in the run's directory before it starts (rc files); HOME is `@RUN@/home`. */
  setup?: Record<string, string>;
  /** Files of the run's directory whose content after the run is compared too. */
  collect?: string[];
  /**
   * The exit code the real pmap must give. Guards against a set-up fault (no `nobody` user, no
   * /dev/full) that would make both programs fail the same way and the comparison pass.
   */
  pmapRc?: number;
}

export interface CaseContext {
  /** Per started process: its PID, then the PIDs it reported (TIDs, zombie children). */
  procs: number[][];
  /** A kworker rescuer thread (persistent, unlike pool workers). */
  kworker: number;
  dir: string;
}

export interface CaseSpec {
  name: string;
  processes: ProcessSpec[];
  /** Freeze pid 2 and a kworker too. */
  kernelThreads?: boolean;
  sysv?: boolean;
  /** Stored as golden files (false for the very large cases). */
  golden?: boolean;
  runs(ctx: CaseContext): RunSpec[];
  /** Replaces frozen files with synthetic ones (reference §14/§17.17). */
  synthesize?(ctx: CaseContext, snapshot: ProcSnapshot): void;
  /** For `whole-lines`: the long path fragment and a short stand-in for it. */
  shorten?(ctx: CaseContext): { long: string; short: string };
}

export const missingPid = '999999';

function pidOf(ctx: CaseContext, process = 0, index = 0): string {
  const pid = ctx.procs[process]?.[index];
  if (pid === undefined) throw new Error(`no pid ${process}/${index}`);
  return String(pid);
}

function idOf(flags: string[]): string {
  if (flags.length === 0) return 'default';
  return flags.map((f) => f.replace(/^-+/, '').replace(/[^A-Za-z0-9]+/g, '_')).join('_');
}

/** Default, -x, -d, -X, -XX and their -q/-p combinations (reference §17.1–2). */
const everyMode: string[][] = [
  [],
  ['-x'],
  ['-d'],
  ['-X'],
  ['-XX'],
  ['-q'],
  ['-p'],
  ['-q', '-x'],
  ['-q', '-d'],
  ['-q', '-X'],
  ['-q', '-XX'],
  ['-p', '-x'],
  ['-p', '-d'],
  ['-p', '-X'],
];

function modeRuns(
  modes: string[][],
  targets: string[],
  extra: Partial<RunSpec> & { idSuffix?: string } = {},
): RunSpec[] {
  const { idSuffix = '', ...rest } = extra;
  return modes.map((flags) => ({ id: `${idOf(flags)}${idSuffix}`, flags, targets, ...rest }));
}

function synthetic(name: string, shapes: () => SyntheticMapping[], modes: string[][]): CaseSpec {
  return {
    name,
    processes: [{ kind: 'sleep' }],
    synthesize(ctx, snapshot) {
      const pid = pidOf(ctx);
      const mappings = shapes();
      snapshot.set(`${pid}/maps`, renderMaps(mappings));
      snapshot.set(`${pid}/smaps`, renderSmaps(mappings));
      const stat = snapshot.get(`${pid}/stat`);
      if (stat === undefined) throw new Error('stat not frozen');
      snapshot.set(`${pid}/stat`, withStartStack(stat, stackStart));
      // The frozen status is the dummy's own, so its Tgid already names the dummy (§14).
    },
    runs: (ctx) => modeRuns(modes, [pidOf(ctx)]),
  };
}

/** One dummy `sleep` per header shape: empty maps, the crafted cmdline and stat. */
function syntheticHeaders(
  name: string,
  shapes: () => SyntheticHeader[],
  golden: boolean,
  flagSets: string[][],
): CaseSpec {
  const count = shapes().length;
  return {
    name,
    golden,
    processes: Array.from({ length: count }, () => ({ kind: 'sleep' as const })),
    synthesize(ctx, snapshot) {
      for (const [index, shape] of shapes().entries()) {
        const pid = pidOf(ctx, index);
        snapshot.set(`${pid}/maps`, Buffer.alloc(0));
        snapshot.set(`${pid}/smaps`, Buffer.alloc(0));
        snapshot.set(`${pid}/cmdline`, shape.cmdline);
        const stat = snapshot.get(`${pid}/stat`);
        if (stat === undefined) throw new Error('stat not frozen');
        if (shape.comm !== undefined) {
          snapshot.set(`${pid}/stat`, withComm(stat, shape.comm, shape.state ?? 'S'));
        }
      }
    },
    runs: (ctx) => {
      const all = Array.from({ length: count }, (_, i) => pidOf(ctx, i));
      return [
        ...modeRuns(flagSets, all),
        ...modeRuns(flagSets, all, { locale: 'C', idSuffix: '_lc_c' }),
      ];
    },
  };
}

const rcSomeFields = '[Fields Display]\nPerm\nRss\nPss\nMapping\n\n[Mapping]\n';
const rcShowPath = '[Fields Display]\nSize\nRss\nMapping\n[Mapping]\nShowPath\n';
const rcNoMapping = '[Fields Display]\nPerm\nSize\nRss\nVmFlags\n';
const rcAllCommented = '[Fields Display]\n#Perm\n#Rss\n#Mapping\n\n[Mapping]\n#ShowPath\n';
const rcWarnings =
  '  [Fields Display]\n  Rss   # resident\nSwap\n[Bogus]\nfoo\n[Fields Display]\nPss extra\nMapping\n';

/** rc-file parsing corners (reference §11): order, duplicates, unknown names, blanks, CRLF. */
const rcCorners: Record<string, string> = {
  reversed_order: '[Fields Display]\nMapping\nRss\nSize\nInode\nDevice\nOffset\nPerm\n',
  duplicates: '[Fields Display]\nRss\nRss\nMapping\nMapping\n',
  unknown_and_lowercase: '[Fields Display]\nBogus\nrss\nAddress\nPss\nMapping\n',
  tabs_and_comments: '\t[Fields Display]\n\tRss#no space\n \t Pss # spaced\nMapping\n',
  crlf: '[Fields Display]\r\nRss\r\nMapping\r\n',
  empty: '',
  fields_outside_section: 'Rss\nMapping\n',
  header_with_text: '[Fields Display] extra\nRss\nMapping\n',
  show_path_twice: '[Fields Display]\nRss\nMapping\n[Mapping]\nShowPath\nShowPath\n',
  vmflags_only: '[Fields Display]\nVmFlags\n',
  every_key: `[Fields Display]\n${[
    'Perm',
    'Offset',
    'Device',
    'Inode',
    'Size',
    'KernelPageSize',
    'MMUPageSize',
    'Rss',
    'Pss',
    'Pss_Dirty',
    'Shared_Clean',
    'Shared_Dirty',
    'Private_Clean',
    'Private_Dirty',
    'Referenced',
    'Anonymous',
    'KSM',
    'LazyFree',
    'AnonHugePages',
    'ShmemPmdMapped',
    'FilePmdMapped',
    'Shared_Hugetlb',
    'Private_Hugetlb',
    'Swap',
    'SwapPss',
    'Locked',
    'THPeligible',
    'VmFlags',
    'Mapping',
  ].join('\n')}\n`,
  long_line: `[Fields Display]\n${'x'.repeat(2000)}\nRss\nMapping\n`,
};

export const cases: CaseSpec[] = [
  {
    name: 'sleep',
    processes: [{ kind: 'sleep' }],
    runs: (ctx) => [
      ...modeRuns(
        [
          ...everyMode,
          ['-X', '-X'],
          ['-XXX'],
          ['--extended'],
          ['--device'],
          ['--quiet', '--show-path'],
          ['-xq'],
          ['-qd'],
          ['-qp'],
        ],
        [pidOf(ctx)],
      ),
      ...modeRuns([[], ['-X']], [pidOf(ctx)], { locale: 'C', idSuffix: '_lc_c' }),
    ],
  },
  {
    name: 'python',
    processes: [{ kind: 'python' }],
    runs: (ctx) => modeRuns(everyMode, [pidOf(ctx)]),
  },
  {
    name: 'non-pie',
    processes: [{ kind: 'scenario-nopie', args: ['plain'] }],
    runs: (ctx) => modeRuns(everyMode, [pidOf(ctx)]),
  },
  {
    name: 'files',
    processes: [{ kind: 'scenario', args: ['files', '@DIR@'] }],
    runs: (ctx) => modeRuns([...everyMode, ['-XX', '-p']], [pidOf(ctx)]),
  },
  {
    name: 'sysv',
    processes: [{ kind: 'scenario', args: ['sysv'] }],
    sysv: true,
    runs: (ctx) => modeRuns(everyMode, [pidOf(ctx)]),
  },
  {
    name: 'big',
    processes: [{ kind: 'scenario', args: ['big'] }],
    runs: (ctx) => modeRuns(everyMode, [pidOf(ctx)]),
  },
  {
    name: 'threads',
    processes: [{ kind: 'scenario', args: ['threads', '8'] }],
    runs: (ctx) => [
      ...modeRuns(everyMode, [pidOf(ctx)]),
      ...modeRuns([[], ['-x'], ['-X']], [pidOf(ctx, 0, 3)], { idSuffix: '_tid' }),
      ...modeRuns([[]], [pidOf(ctx), pidOf(ctx, 0, 1)], { idSuffix: '_pid_tid' }),
    ],
  },
  {
    name: 'names',
    processes: [{ kind: 'scenario', args: ['names', '@DIR@'] }],
    runs: (ctx) => [
      ...modeRuns([...everyMode, ['-XX', '-p']], [pidOf(ctx)]),
      ...modeRuns([[], ['-X']], [pidOf(ctx)], { locale: 'C', idSuffix: '_lc_c' }),
    ],
  },
  {
    name: 'long-paths',
    processes: [{ kind: 'scenario', args: ['longpaths', '@DIR@'] }],
    shorten: () => ({ long: `/${'b'.repeat(200)}`.repeat(5), short: '/bbbbb' }),
    runs: (ctx) => [
      ...modeRuns(
        [[], ['-p'], ['-d'], ['-p', '-d'], ['-x'], ['-p', '-x'], ['-q'], ['-q', '-p', '-x']],
        [pidOf(ctx)],
        { expect: 'whole-lines' },
      ),
      ...modeRuns([['-X'], ['-XX'], ['-p', '-X'], ['-q', '-X']], [pidOf(ctx)]),
    ],
  },
  {
    name: 'fixed',
    processes: [{ kind: 'scenario', args: ['fixed'] }],
    runs: (ctx) => {
      const t = [pidOf(ctx)];
      const range = (id: string, ...flags: string[]): RunSpec => ({ id, flags, targets: t });
      return [
        range('A_all', '-A', '10000000,10023000'),
        range('A_edge_low', '-A', '10003fff,10010000'),
        range('A_gap', '-A', '10004000,1000ffff'),
        range('A_single', '-A', '10011000'),
        range('A_low_only', '-A', '10011000,'),
        range('A_high_only', '-A', ',10011000'),
        range('A_0x', '-A', '0x10010000,0x10020000'),
        range('A_reversed', '-A', '20000000,10000000'),
        range('A_space', '-A', ' 10010000'),
        range('A_repeated', '-A', '10010000,', '-A', ',10011000'),
        range('A_long', '--range=10010000,10020000'),
        range('A_empty', '-A', ''),
        range('x_A', '-x', '-A', '10010000,10020000'),
        range('d_A', '-d', '-A', '10000000,10023000'),
        range('q_A', '-q', '-A', '10000000,10023000'),
        range('p_A', '-p', '-A', '10010000,10020000'),
        range('X_A', '-X', '-A', '10010000,10020000'),
        range('XX_A', '-XX', '-A', '10010000,10020000'),
        range('A_overflow', '-A', '10000000000000000'),
        range('A_negative', '-A', '-1'),
        range('A_plus', '-A', '+10010000,+10020000'),
        range('A_0x_only', '-A', '0x'),
        range('A_comma_only', '-A', ','),
        range('A_blanks', '-A', '  ,  '),
        range('A_upper_hex', '-A', '1001000A,1001FFFF'),
        range('A_tab', '-A', '\t10010000'),
        range('A_trailing_space', '-A', '10010000 '),
        range('A_max', '-A', 'ffffffffffffffff'),
        range('A_zz', '-A', 'zz'),
        range('A_three', '-A', '1,2,3'),
      ];
    },
  },
  ...(['odd', 'invalid', 'truncated', 'zeroed', 'overwritten'] as const).map(
    (kind): CaseSpec => ({
      name: `cmdline-${kind}`,
      processes: [{ kind: 'scenario', args: ['cmdline', kind] }],
      runs: (ctx) => [
        ...modeRuns([['-q'], ['-X']], [pidOf(ctx)]),
        ...modeRuns([['-q'], ['-X']], [pidOf(ctx)], { locale: 'C', idSuffix: '_lc_c' }),
      ],
    }),
  ),
  {
    name: 'locale-env',
    processes: [{ kind: 'scenario', args: ['cmdline', 'odd'] }],
    runs: (ctx): RunSpec[] => {
      const t = [pidOf(ctx)];
      const q = (id: string, localeVars: Record<string, string>): RunSpec => ({
        id,
        flags: ['-q'],
        targets: t,
        localeVars,
      });
      return [
        q('no_locale_vars', {}),
        q('lang_utf8', { LANG: 'C.UTF-8' }),
        q('lc_ctype_over_lang', { LANG: 'C', LC_CTYPE: 'C.UTF-8' }),
        q('lc_all_over_lc_ctype', { LC_ALL: 'C', LC_CTYPE: 'C.UTF-8' }),
        q('lc_ctype_c_lang_utf8', { LANG: 'C.UTF-8', LC_CTYPE: 'C' }),
        q('lc_messages_only', { LC_MESSAGES: 'C.UTF-8' }),
        q('alias_c_utf8', { LC_ALL: 'C.utf8' }),
        q('posix', { LC_ALL: 'POSIX' }),
        q('empty_lc_all', { LC_ALL: '', LANG: 'C.UTF-8' }),
      ];
    },
  },
  {
    // Depends on which locales the machine has, so it is compared live only.
    name: 'locale-missing',
    golden: false,
    processes: [{ kind: 'scenario', args: ['cmdline', 'odd'] }],
    runs: (ctx): RunSpec[] => [
      {
        id: 'not_installed',
        flags: ['-q'],
        targets: [pidOf(ctx)],
        localeVars: { LC_ALL: 'xx_YY.UTF-8' },
      },
      {
        id: 'not_installed_lang',
        flags: ['-q'],
        targets: [pidOf(ctx)],
        localeVars: { LANG: 'xx_YY.UTF-8' },
      },
    ],
  },
  {
    name: 'cmdline-huge',
    golden: false,
    processes: [{ kind: 'scenario', args: ['cmdline', 'huge'] }],
    runs: (ctx) => [
      ...modeRuns([['-q']], [pidOf(ctx)]),
      ...modeRuns([['-q']], [pidOf(ctx)], { locale: 'C', idSuffix: '_lc_c' }),
    ],
  },
  {
    name: 'kernel-zombies',
    processes: [{ kind: 'scenario', args: ['zombies'] }],
    kernelThreads: true,
    runs: (ctx) => [
      ...modeRuns(everyMode, ['2'], { idSuffix: '_kthreadd' }),
      ...modeRuns(everyMode, [String(ctx.kworker)], { idSuffix: '_kworker' }),
      ...modeRuns(everyMode, [pidOf(ctx, 0, 1)], { idSuffix: '_zombie' }),
      ...modeRuns(everyMode, [pidOf(ctx, 0, 2)], { idSuffix: '_weird_zombie' }),
      ...modeRuns([['-q']], [pidOf(ctx, 0, 2)], { locale: 'C', idSuffix: '_weird_zombie_lc_c' }),
      { id: 'hide_kernel', flags: [], targets: ['2'], hideKernel: true, pmapRc: 42 },
      {
        id: 'hide_kernel_x',
        flags: ['-x'],
        targets: [String(ctx.kworker), pidOf(ctx, 0, 1)],
        hideKernel: true,
      },
    ],
  },
  {
    name: 'multi-pid',
    processes: [
      { kind: 'scenario', args: ['plain'] },
      { kind: 'sleep' },
      { kind: 'scenario', args: ['zombies'] },
    ],
    kernelThreads: true,
    runs: (ctx) => {
      const a = pidOf(ctx, 0);
      const b = pidOf(ctx, 1);
      const zombie = pidOf(ctx, 2, 1);
      return [
        { id: 'a_b', flags: [], targets: [a, b] },
        { id: 'b_a', flags: [], targets: [b, a] },
        { id: 'a_a', flags: [], targets: [a, a] },
        { id: 'X_a_a', flags: ['-X'], targets: [a, a], expect: 'per-pid' },
        { id: 'a_missing', flags: [], targets: [a, missingPid], pmapRc: 42 },
        { id: 'missing', flags: [], targets: [missingPid], pmapRc: 42 },
        { id: 'missing_a', flags: ['-x'], targets: [missingPid, a] },
        { id: 'x_a_b', flags: ['-x'], targets: [a, b] },
        { id: 'd_a_b', flags: ['-d'], targets: [a, b] },
        { id: 'x_a_zombie', flags: ['-x'], targets: [a, zombie] },
        { id: 'X_a_b', flags: ['-X'], targets: [a, b], expect: 'per-pid' },
        { id: 'XX_a_b', flags: ['-XX'], targets: [a, b], expect: 'per-pid' },
        { id: 'X_a_kthreadd', flags: ['-X'], targets: [a, '2'], expect: 'per-pid' },
        { id: 'X_kthreadd_a', flags: ['-X'], targets: ['2', a], expect: 'per-pid' },
        { id: 'q_X_a_b', flags: ['-q', '-X'], targets: [a, b], expect: 'per-pid' },
        { id: 'X_a_missing', flags: ['-X'], targets: [a, missingPid], expect: 'per-pid' },
        { id: 'X_single_kthreadd', flags: ['-X'], targets: ['2'] },
        { id: 'all_kernel', flags: [], targets: ['2', String(ctx.kworker), zombie] },
      ];
    },
  },
  {
    name: 'cli',
    processes: [{ kind: 'scenario', args: ['plain'] }],
    runs: (ctx) => {
      const a = pidOf(ctx);
      const pid = Number(a);
      const run = (id: string, flags: string[], targets: string[] = []): RunSpec => ({
        id,
        flags,
        targets,
      });
      return [
        run('no_args', []),
        run('x_without_pid', ['-x']),
        run('abc', [], ['abc']),
        run('zero', [], ['0']),
        run('trailing_junk', [], ['123abc']),
        run('too_big', [], ['2147483648']),
        run('max_pid_missing', [], ['2147483647']),
        run('proc_slash_pid', [], [`/proc/${a}`]),
        run('proc_self', [], ['/proc/self']),
        run('proc_self_then_pid', [], ['/proc/self', a]),
        run('plus_sign', [], [`+${a}`]),
        run('leading_space', [], [` ${a}`]),
        run('bad_octal', [], ['08']),
        run('double_zero', [], ['00']),
        run('hex_only_prefix', [], ['0x']),
        run('proc_empty', [], ['/proc/']),
        run('proc_zero', [], ['/proc/0']),
        run('proc_abc_then_pid', [], ['/proc/abc', a]),
        run('proc_double_slash', [], [`/proc//${a}`]),
        run('hex_max_missing', [], ['0x7fffffff']),
        run('over_32_bits', [], ['4294967297']),
        run('over_64_bits', [], ['99999999999999999999']),
        run('HEX_upper', [], [`0X${pid.toString(16).toUpperCase()}`]),
        run('hex', [], [`0x${pid.toString(16)}`]),
        run('octal', [], [`0${pid.toString(8)}`]),
        run('r', ['-r'], [a]),
        run('x_X', ['-x', '-X'], [a]),
        run('x_d', ['-x', '-d'], [a]),
        run('c_x', ['-c', '-x'], [a]),
        run('n_pid', ['-n'], [a]),
        run('n_q', ['-n', '-q']),
        run('p_n', ['-p', '-n']),
        run('A_three', ['-A', '1,2,3'], [a]),
        run('A_missing_arg', ['-A']),
        run('unknown_short', ['-z'], [a]),
        run('unknown_long', ['--bogus'], [a]),
        run('long_abbreviated', ['--ext'], [a]),
        run('long_ambiguous', ['--re'], [a]),
        run('long_with_value', ['--extended=yes'], [a]),
        run('range_separate_arg', ['--range', '0,ffffffffffff'], [a]),
        run('A_attached', ['-A0,ffffffffffff'], [a]),
        run('bundled_A', ['-qA', '0,ffffffffffff'], [a]),
        run('double_dash', ['-x', '--'], [a]),
        run('flag_after_pid', [], [a, '-x']),
        run('help', ['-h']),
        run('help_long', ['--help']),
        run('pids_255', ['-q', '-A', '1,1'], Array(255).fill(a)),
        run('pids_256', ['-q'], Array(256).fill(a)),
        { id: 'dev_full', flags: ['-x'], targets: [a], stdoutToDevFull: true, pmapRc: 1 },
        { id: 'dev_full_X', flags: ['-X'], targets: [a], stdoutToDevFull: true, pmapRc: 1 },
      ];
    },
  },
  {
    name: 'rc-files',
    processes: [{ kind: 'scenario', args: ['files', '@DIR@'] }],
    runs: (ctx): RunSpec[] => {
      const a = pidOf(ctx);
      return [
        { id: 'n', flags: ['-n'], targets: [], collect: ['home/.pmaprc'] },
        { id: 'n_long', flags: ['--create-rc'], targets: [], collect: ['home/.pmaprc'] },
        { id: 'c_long_missing', flags: ['--read-rc'], targets: [a] },
        { id: 'n_exists', flags: ['-n'], targets: [], setup: { 'home/.pmaprc': 'x\n' } },
        { id: 'N', flags: ['-N', '@RUN@/my.rc'], targets: [], collect: ['my.rc'] },
        { id: 'N_long', flags: ['--create-rc-to=@RUN@/my.rc'], targets: [], collect: ['my.rc'] },
        { id: 'N_exists', flags: ['-N', '@RUN@/my.rc'], targets: [], setup: { 'my.rc': 'x\n' } },
        { id: 'c_missing', flags: ['-c'], targets: [a] },
        { id: 'c_no_home', flags: ['-c'], targets: [a], noHome: true },
        { id: 'c', flags: ['-c'], targets: [a], setup: { 'home/.pmaprc': rcSomeFields } },
        {
          id: 'c_A',
          flags: ['-c', '-A', '0,1000'],
          targets: [a],
          setup: { 'home/.pmaprc': rcSomeFields },
        },
        {
          id: 'C_some',
          flags: ['-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcSomeFields },
        },
        {
          id: 'C_show_path',
          flags: ['-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcShowPath },
        },
        {
          id: 'p_C_show_path',
          flags: ['-p', '-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcShowPath },
        },
        {
          id: 'C_no_mapping',
          flags: ['-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcNoMapping },
        },
        {
          id: 'C_all_commented',
          flags: ['-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcAllCommented },
        },
        {
          id: 'C_warnings',
          flags: ['-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcWarnings },
        },
        {
          id: 'q_C',
          flags: ['-q', '-C', '@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcSomeFields },
        },
        { id: 'C_missing', flags: ['-C', '@RUN@/none.rc'], targets: [a] },
        {
          id: 'C_long',
          flags: ['--read-rc-from=@RUN@/f.rc'],
          targets: [a],
          setup: { 'f.rc': rcShowPath },
        },
        ...Object.entries(rcCorners).map(
          ([name, content]): RunSpec => ({
            id: `C_${name}`,
            flags: ['-C', '@RUN@/f.rc'],
            targets: [a],
            setup: { 'f.rc': content },
          }),
        ),
      ];
    },
  },
  synthetic('synthetic-odd', oddShapes, [...everyMode, ['-XX', '-p'], ['-A', '7000,10000']]),
  synthetic('synthetic-protection-key', protectionKeyShapes, [
    [],
    ['-x'],
    ['-X'],
    ['-XX'],
    ['-q', '-X'],
  ]),
  synthetic('synthetic-stray-line', strayLineShapes, [[], ['-x'], ['-X'], ['-XX']]),
  synthetic('synthetic-missing-key', missingKeyShapes, [[], ['-x'], ['-X'], ['-XX']]),
  synthetic('synthetic-extra-key', extraKeyShapes, [['-X'], ['-XX'], ['-q', '-X']]),
  synthetic('synthetic-short-block', shortBlockShapes, [['-x'], ['-X'], ['-XX'], ['-q', '-XX']]),
  synthetic('synthetic-widths', widthShapes, [...everyMode, ['-XX', '-p']]),
  syntheticHeaders('synthetic-headers', headerShapes, true, [['-q'], [], ['-x'], ['-X']]),
  syntheticHeaders('synthetic-headers-big', bigHeaderShapes, false, [['-q']]),
  {
    name: 'many-mappings',
    golden: false,
    processes: [{ kind: 'scenario', args: ['many', '3000'] }],
    runs: (ctx) => modeRuns([[], ['-x'], ['-d'], ['-X'], ['-XX']], [pidOf(ctx)]),
  },
  {
    name: 'nobody',
    golden: false,
    processes: [{ kind: 'scenario', args: ['plain'] }],
    runs: (ctx) => {
      const a = pidOf(ctx);
      return [
        { id: 'default', flags: [], targets: [a], asNobody: true, pmapRc: 1 },
        { id: 'x', flags: ['-x'], targets: [a], asNobody: true, pmapRc: 1 },
        { id: 'X', flags: ['-X'], targets: [a], asNobody: true, pmapRc: 1 },
        { id: 'missing', flags: [], targets: [a, missingPid], asNobody: true, pmapRc: 43 },
        { id: 'kthreadd', flags: [], targets: ['2'], asNobody: true },
      ];
    },
  },
];

/** The live test files, each running one group (files run in parallel, cases in a file in turn). */
export const liveGroups = {
  processes: [
    'sleep',
    'python',
    'non-pie',
    'files',
    'sysv',
    'big',
    'threads',
    'names',
    'long-paths',
  ],
  special: [
    'fixed',
    'cmdline-odd',
    'cmdline-invalid',
    'cmdline-truncated',
    'cmdline-zeroed',
    'cmdline-overwritten',
    'cmdline-huge',
    'locale-env',
    'locale-missing',
    'kernel-zombies',
    'multi-pid',
    'many-mappings',
  ],
  cli: [
    'cli',
    'rc-files',
    'nobody',
    'synthetic-odd',
    'synthetic-protection-key',
    'synthetic-stray-line',
    'synthetic-missing-key',
    'synthetic-extra-key',
    'synthetic-short-block',
    'synthetic-widths',
    'synthetic-headers',
    'synthetic-headers-big',
  ],
} as const;

/** Enough of a context to list a case's run ids before any process exists. */
export const listingContext: CaseContext = {
  procs: Array.from({ length: 32 }, () => Array.from({ length: 16 }, (_, i) => 100 + i)),
  kworker: 3,
  dir: '/nonexistent',
};
