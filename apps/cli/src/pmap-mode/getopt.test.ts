import { describe, expect, it } from 'vitest';
import { type GetoptSpec, getoptLong } from './getopt.ts';

const SPEC: GetoptSpec = {
  shortOptions: 'xXrdqA:hVcC:nN:p',
  longOptions: [
    { name: 'extended', hasArg: false, val: 'x' },
    { name: 'range', hasArg: true, val: 'A' },
    { name: 'read-rc', hasArg: false, val: 'c' },
    { name: 'read-rc-from', hasArg: true, val: 'C' },
    { name: 'show-path', hasArg: false, val: 'p' },
  ],
  exactOptions: [
    { name: 'json', hasArg: false, val: 'json' },
    { name: 'sort', hasArg: true, val: 'sort' },
  ],
  posixlyCorrect: false,
};

const opts = (argv: string[], spec: GetoptSpec = SPEC) => getoptLong(argv, spec);

describe('getopt_long equivalent', () => {
  it('unbundles short options and takes an attached or following argument', () => {
    expect(opts(['-xq', '-A10,20', '-C', 'file', '1']).events).toEqual([
      { kind: 'option', opt: 'x' },
      { kind: 'option', opt: 'q' },
      { kind: 'option', opt: 'A', arg: '10,20' },
      { kind: 'option', opt: 'C', arg: 'file' },
    ]);
  });

  it('permutes operands unless POSIXLY_CORRECT is set, and stops at --', () => {
    expect(opts(['1', '-x', '--', '-d'])).toEqual({
      events: [{ kind: 'option', opt: 'x' }],
      operands: ['1', '-d'],
    });
    expect(opts(['1', '-x'], { ...SPEC, posixlyCorrect: true })).toEqual({
      events: [],
      operands: ['1', '-x'],
    });
  });

  it('resolves unique abbreviations and an exact name over longer ones', () => {
    expect(opts(['--ext', '--read-rc', '--range=5']).events).toEqual([
      { kind: 'option', opt: 'x' },
      { kind: 'option', opt: 'c' },
      { kind: 'option', opt: 'A', arg: '5' },
    ]);
  });

  it('reports errors with glibc texts', () => {
    expect(opts(['-z', '--r', '--foo=bar', '--extended=3', '--range', '-A']).events).toEqual([
      { kind: 'error', message: "invalid option -- 'z'" },
      {
        kind: 'error',
        message: "option '--r' is ambiguous; possibilities: '--range' '--read-rc' '--read-rc-from'",
      },
      { kind: 'error', message: "unrecognized option '--foo=bar'" },
      { kind: 'error', message: "option '--extended' doesn't allow an argument" },
      { kind: 'option', opt: 'A', arg: '-A' },
    ]);
    expect(opts(['-A']).events).toEqual([
      { kind: 'error', message: "option requires an argument -- 'A'" },
    ]);
    expect(opts(['--range']).events).toEqual([
      { kind: 'error', message: "option '--range' requires an argument" },
    ]);
  });

  it('accepts the extensions only when spelled out in full', () => {
    expect(opts(['--json', '--sort', 'rss', '--sort=pss']).events).toEqual([
      { kind: 'option', opt: 'json' },
      { kind: 'option', opt: 'sort', arg: 'rss' },
      { kind: 'option', opt: 'sort', arg: 'pss' },
    ]);
    expect(opts(['--so']).events).toEqual([
      { kind: 'error', message: "unrecognized option '--so'" },
    ]);
    expect(opts(['--s']).events).toEqual([{ kind: 'option', opt: 'p' }]);
  });
});
