import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProcfsParseError } from './errors.ts';
import { AT_CLKTCK, AT_PAGESZ, parseAuxv, parseMeminfo, readHostFacts } from './host.ts';
import { FIXTURE_PROC, thrown } from './test-support.ts';

describe('host facts', () => {
  it('reads the captured and the live host', async () => {
    const fx = await readHostFacts(FIXTURE_PROC);
    expect(fx.bootId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(fx.pageSizeKb).toBe(4);
    expect(fx.clockTicksPerSec).toBe(100);
    expect(fx.memTotalKb).toBeGreaterThan(0);
    const live = await readHostFacts();
    expect(live.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim());
    expect(live.kernel).toBe(readFileSync('/proc/sys/kernel/osrelease', 'latin1').trim());
    expect(live.pageSizeKb * 1024).toBe(
      Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'latin1' })),
    );
    expect(live.clockTicksPerSec).toBe(
      Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'latin1' })),
    );
  });

  it('parses auxv pairs up to AT_NULL', () => {
    const b = new DataView(new ArrayBuffer(48));
    b.setBigUint64(0, BigInt(AT_PAGESZ), true);
    b.setBigUint64(8, 16384n, true);
    b.setBigUint64(16, BigInt(AT_CLKTCK), true);
    b.setBigUint64(24, 250n, true);
    const auxv = parseAuxv(new Uint8Array(b.buffer), 'auxv', true);
    expect(auxv.get(AT_PAGESZ)).toBe(16384n);
    expect(auxv.get(AT_CLKTCK)).toBe(250n);
    expect(thrown(() => parseAuxv(new Uint8Array(5), 'auxv'))).toBeInstanceOf(ProcfsParseError);
  });

  it('parses meminfo and rejects garbage', () => {
    expect(parseMeminfo('MemTotal:       24684096 kB\nHugePages_Total:       0\n', 'm')).toEqual({
      MemTotal: 24684096,
      HugePages_Total: 0,
    });
    expect(thrown(() => parseMeminfo('MemTotal 5\n', 'm'))).toBeInstanceOf(ProcfsParseError);
  });
});
