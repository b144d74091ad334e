import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseTimeMs } from './at-time.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('times and windows', () => {
  it('reads windows in every unit and combined', () => {
    expect(parseDurationMs('30m')).toBe(30 * 60_000);
    expect(parseDurationMs('24h')).toBe(24 * 3_600_000);
    expect(parseDurationMs('7d')).toBe(7 * 86_400_000);
    expect(parseDurationMs('1h30m')).toBe(90 * 60_000);
  });

  it('refuses lengths without a unit, negative or zero', () => {
    expect(() => parseDurationMs('30')).toThrow(/expected a length/);
    expect(() => parseDurationMs('-2h')).toThrow(/expected a length/);
    expect(() => parseDurationMs('0h')).toThrow(/longer than zero/);
  });

  it('reads relative times as that long ago, and ISO dates as UTC unless zoned', () => {
    expect(parseTimeMs('2h', NOW)).toBe(NOW - 2 * 3_600_000);
    expect(parseTimeMs('now', NOW)).toBe(NOW);
    expect(parseTimeMs('2026-11-23T10:00:00Z', NOW)).toBe(Date.UTC(2026, 10, 23, 10));
    expect(parseTimeMs('2026-11-23T10:00:00', NOW)).toBe(Date.UTC(2026, 10, 23, 10));
    expect(parseTimeMs('2026-11-23T10:00:00+02:00', NOW)).toBe(Date.UTC(2026, 10, 23, 8));
    expect(parseTimeMs('2026-11-22', NOW)).toBe(Date.UTC(2026, 10, 22));
  });

  it('says what it expected for anything else', () => {
    expect(() => parseTimeMs('yesterday', NOW)).toThrow(/ISO date/);
    expect(() => parseTimeMs('2026-13-45T99:00:00Z', NOW)).toThrow(/not a valid date/);
  });
});
