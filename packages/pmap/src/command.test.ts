import { describe, expect, it } from 'vitest';
import {
  escapeString,
  flattenCmdline,
  parsePmapStat,
  processCommand,
  tgidFromStatus,
} from './command.ts';

const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

// A stat line of a sleeping process; field 28 (startstack) is 140723360894800.
const STAT =
  '4691 (sleep) S 1 4691 4691 0 -1 4194304 93 0 0 0 0 0 0 0 20 0 1 0 12345 5578752 256 ' +
  '18446744073709551615 94789378527232 94789378545889 140723360894800 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n';

describe('header command text', () => {
  it('escapes by the UTF-8 rules, falling back to C escaping after a bad lead byte', () => {
    // Reference §2: `\tpre` `\xffz` `a\tb` `é` in a UTF-8 locale.
    const raw = `\tpre \xffz a\tb ${bytes('é')}`;
    expect(escapeString(raw, true)).toBe('?pre ?z a.b ??');
  });

  it('keeps valid multi-byte sequences in UTF-8 and turns every high byte into ? in C', () => {
    const raw = bytes('utf8_é€ ctl\x01\x7f');
    expect(escapeString(raw, true)).toBe(bytes('utf8_é€ ctl??'));
    expect(escapeString(raw, false)).toBe('utf8_????? ctl..');
  });

  it('escapes a sequence cut by the end of the string the C way', () => {
    expect(escapeString('ab\xe2\x82', true)).toBe('ab??');
  });

  it('flattens NULs and newlines, drops trailing NULs, and shows empty arguments as spaces', () => {
    expect(flattenCmdline('/opt/t/scen\0plain\0arg with\0\0spaces\0\0')).toBe(
      '/opt/t/scen plain arg with  spaces',
    );
    expect(flattenCmdline('nl\nhere\0')).toBe('nl here');
  });

  it('removes a final space or newline only when the process overwrote its last NUL', () => {
    expect(flattenCmdline('t x \0')).toBe('t x ');
    expect(flattenCmdline('t x ')).toBe('t x');
    expect(flattenCmdline('t x\n')).toBe('t x');
  });

  it('keeps 131071 bytes of a command line that filled the 128 KiB buffer', () => {
    const text = processCommand('a'.repeat(131072), parsePmapStat(STAT, true), true);
    expect(text.length).toBe(131071);
  });

  it('shows ? for a command line of NULs and [comm] for an empty one', () => {
    const stat = parsePmapStat(STAT, true);
    expect(processCommand('\0\0\0', stat, true)).toBe('?');
    expect(processCommand('', stat, true)).toBe('[sleep]');
  });

  it('marks a zombie and keeps parentheses of its comm (last `)` ends the name)', () => {
    const stat = parsePmapStat(
      '12737 (we) ir\td) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n',
      true,
    );
    expect(processCommand('', stat, true)).toBe('[we) ir?d] <defunct>');
  });

  it('reads startstack and ppid from stat', () => {
    const stat = parsePmapStat(STAT, true);
    expect(stat.startStack).toBe(140723360894800n);
    expect(stat.ppid).toBe(1);
    expect(stat.state).toBe('S');
  });

  it('takes the Tgid from status, and the pid itself without one', () => {
    expect(tgidFromStatus('Name:\tscen\nTgid:\t8518\nPid:\t8520\n', 8520)).toBe(8518);
    expect(tgidFromStatus(null, 8520)).toBe(8520);
    expect(tgidFromStatus('Name:\tx\n', 77)).toBe(77);
  });
});
