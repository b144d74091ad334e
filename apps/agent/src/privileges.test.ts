import { describe, expect, it } from 'vitest';
import {
  CAP_SYS_PTRACE,
  hasEffectiveCapability,
  NO_PTRACE_MESSAGE,
  warnWithoutPtrace,
} from './privileges.ts';
import { fixtureProcRoot } from './test-support.ts';

const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;

describe('CAP_SYS_PTRACE at start', () => {
  it('reads bit 19 of CapEff', () => {
    expect(hasEffectiveCapability(status('0000000000080000'), CAP_SYS_PTRACE)).toBe(true);
    expect(hasEffectiveCapability(status('000001ffffffffff'), CAP_SYS_PTRACE)).toBe(true);
    expect(hasEffectiveCapability(status('0000000000000000'), CAP_SYS_PTRACE)).toBe(false);
    // Root in a container that dropped it.
    expect(hasEffectiveCapability(status('00000000a80425fb'), CAP_SYS_PTRACE)).toBe(false);
    expect(hasEffectiveCapability('Name:\tnode\n', CAP_SYS_PTRACE)).toBeUndefined();
  });

  it('warns once when reading the real /proc without it, not with it or on a fixture tree', () => {
    const warned: unknown[][] = [];
    const log = { warn: (...args: unknown[]) => warned.push(args) };
    warnWithoutPtrace(log as never, '/proc', () => status('0000000000000000'));
    expect(warned).toEqual([[{ capability: 'CAP_SYS_PTRACE' }, NO_PTRACE_MESSAGE]]);
    warnWithoutPtrace(log as never, '/proc', () => status('0000000000080000'));
    warnWithoutPtrace(log as never, fixtureProcRoot, () => status('0000000000000000'));
    expect(warned).toHaveLength(1);
  });
});
