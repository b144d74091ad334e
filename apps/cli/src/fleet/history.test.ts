import { describe, expect, it } from 'vitest';
import { type HistoryResult, renderHistory } from './history.ts';

const SAMPLE = 180_000;
const HOUR = 3_600_000;

function history(samples: number, limitKb: number | null): HistoryResult {
  return {
    host: 'web-1',
    pid: 500,
    startTicks: 7000,
    comm: 'capped',
    cmdline: 'capped',
    metric: 'anon',
    points: Array.from({ length: samples }, (_, i) => ({
      tMs: Date.UTC(2026, 10, 23) + i * SAMPLE,
      kb: 100_000 + (20_000 * i * SAMPLE) / HOUR,
    })),
    trend: {
      interceptKb: 100_000,
      slopeKbPerHour: 20_000,
      pctPerHour: 20,
      confidence: 1,
      leak: true,
      reason: 'leak',
      timeToLimitHours: 46,
      limitKb,
      onset: null,
    },
  };
}

describe('renderHistory', () => {
  it('charts fewer samples than columns, and says what the time to limit runs to', () => {
    const text = renderHistory(history(28, 1_048_576), { width: 72, height: 8 });
    expect(text).toMatch(/[┤┼]/);
    expect(text).toMatch(/time to limit 46h of 1\.0G, verdict LEAK\n$/);
    const unknown = renderHistory(history(28, null), { width: 72, height: 8 });
    expect(unknown).toMatch(/time to limit 46h, verdict LEAK\n$/);
  });

  it('says when the growth began and which diff shows what grew since', () => {
    const h = history(28, 1_048_576);
    h.trend.onset = {
      atMs: Date.UTC(2026, 10, 23, 0, 40),
      slopeBeforeKbPerHour: 12.4,
      slopeAfterKbPerHour: 20_000,
    };
    expect(renderHistory(h, { width: 72, height: 8 })).toMatch(
      /verdict LEAK\ngrowth began about 2026-11-23T00:40:00Z: \+12 KiB\/h before, \+20000 KiB\/h since\nwhat grew since: fleetpmap diff web-1:500 --from 2026-11-23T00:25:00Z\n$/,
    );
  });

  it('shows a hostile command line in the title as text, not as escape sequences or lines', () => {
    const h = history(28, null);
    h.cmdline = 'worker \u001b[2J\u001b[31m\nLEAK 0 KiB/h\u202e';
    h.host = 'web-1\u001b]0;x\u0007';
    const text = renderHistory(h, { width: 72, height: 8 });
    const plain = renderHistory(history(28, null), { width: 72, height: 8 });
    expect(text.split('\n')[0]).toBe('web-1?]0;x?:500 worker ?[2J?[31m?LEAK 0 KiB/h?');
    // The newline forged no line of its own.
    expect(text.split('\n')).toHaveLength(plain.split('\n').length);
    expect(text.replaceAll('\n', '')).not.toMatch(/[\p{Cc}\u202e]/u);
  });
});
