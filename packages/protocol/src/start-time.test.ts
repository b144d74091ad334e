import { describe, expect, it } from 'vitest';
import { processStartMs } from './start-time.ts';

describe('processStartMs', () => {
  it('adds the start ticks to the boot time', () => {
    const boot = Date.UTC(2026, 10, 23, 8, 0, 0);
    expect(processStartMs({ bootTimeMs: boot, clockTicksPerSec: 100 }, 51_234)).toBe(
      boot + 512_340,
    );
    // 250 Hz: 3 ticks are 12 ms; a fraction of a millisecond is cut, never rounded up.
    expect(processStartMs({ bootTimeMs: boot, clockTicksPerSec: 250 }, 3)).toBe(boot + 12);
    expect(processStartMs({ bootTimeMs: boot, clockTicksPerSec: 300 }, 1)).toBe(boot + 3);
  });

  it('is unknown without a boot time or when the figures make no time', () => {
    expect(processStartMs({ clockTicksPerSec: 100 }, 51_234)).toBeNull();
    expect(
      processStartMs(
        { bootTimeMs: Number.MAX_SAFE_INTEGER, clockTicksPerSec: 1 },
        Number.MAX_SAFE_INTEGER,
      ),
    ).toBeNull();
  });
});
