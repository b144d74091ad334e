import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProcfsParseError } from './errors.ts';
import {
  AT_CLKTCK,
  AT_PAGESZ,
  parseAuxv,
  parseBootTimeMs,
  parseMeminfo,
  readBootTimeMs,
  readHostFacts,
} from './host.ts';
import { FIXTURE_PROC, thrown } from './test-support.ts';

describe('host facts', () => {
  it('reads the captured and the live host', async () => {
    const fx = await readHostFacts(FIXTURE_PROC);
    expect(fx.bootId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-/);
    expect(fx.pageSizeKb).toBe(4);
    expect(fx.clockTicksPerSec).toBe(100);
    expect(fx.memTotalKb).toBeGreaterThan(0);
    // The captured /proc/stat says `btime 1795465582`.
    expect(fx.bootTimeMs).toBe(1_795_465_582_000);
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

  it('reads the live boot time, which agrees with the uptime clock', async () => {
    const before = Date.now();
    const bootTimeMs = await readBootTimeMs();
    const uptimeMs = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]) * 1000;
    const after = Date.now();
    expect((await readHostFacts()).bootTimeMs).toBe(bootTimeMs);
    // btime is the boot instant cut to whole seconds; /proc/uptime counts from that instant in
    // hundredths, so the two agree to within a second and the time between the reads.
    const fromUptime = before - uptimeMs;
    expect(bootTimeMs).toBeLessThanOrEqual(after - uptimeMs + 10);
    expect(bootTimeMs).toBeGreaterThan(fromUptime - 1000 - (after - before) - 10);
    expect(bootTimeMs % 1000).toBe(0);
  });

  it('parses the btime line of /proc/stat and refuses text without one', () => {
    const text = 'cpu  1 2 3 4\nintr 5 0 0\nctxt 81\nbtime 1795465582\nprocesses 7229\n';
    expect(parseBootTimeMs(text, 'stat')).toBe(1_795_465_582_000);
    const noLine = thrown(() => parseBootTimeMs('cpu  1 2 3 4\nctxt 81\n', 'stat'));
    expect(noLine).toBeInstanceOf(ProcfsParseError);
    expect((noLine as Error).message).toMatch(/no btime/);
    for (const bad of ['btime -5\n', 'btime 1795465582x\n', 'btime 9999999999999\n', 'btime\n']) {
      expect(thrown(() => parseBootTimeMs(bad, 'stat'))).toBeInstanceOf(ProcfsParseError);
    }
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
