import { describe, expect, it } from 'vitest';
import { buildFleet } from '../sim/fleet.ts';
import { freshScenario, intArg } from './fresh.ts';

describe('bench:leaks:fresh', () => {
  it('draws a fleet per seed, the same one again for the same seed, over every window', () => {
    const windows = [0, 1, 2, 3, 4, 5].map((k) => freshScenario(1000 + k, k).windowHours);
    expect(windows).toEqual([6, 8, 12, 24, 36, 48]);
    const again = (seed: number) =>
      buildFleet(freshScenario(seed, 0)).instances.map((i) => [i.host, i.name, i.leak]);
    expect(again(77)).toEqual(again(77));
    expect(again(77)).not.toEqual(again(78));
  });

  it('refuses a count or seed that is not a whole number in range', () => {
    expect(intArg(undefined, 'COUNT', 1, 100, 6)).toBe(6);
    expect(intArg('12', 'COUNT', 1, 100, 6)).toBe(12);
    for (const bad of ['0', '101', '2.5', 'twelve', '']) {
      expect(() => intArg(bad, 'COUNT', 1, 100, 6)).toThrow(/COUNT: an integer in \[1, 100\]/);
    }
  });
});
