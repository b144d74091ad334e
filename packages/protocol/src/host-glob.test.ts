import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostGlobMatches } from './host-glob.ts';

describe('hostGlobMatches', () => {
  it('matches `*` and `?` only, everything else literally', () => {
    expect(hostGlobMatches('web-*', 'web-07')).toBe(true);
    expect(hostGlobMatches('web-*', 'xweb-07')).toBe(false);
    expect(hostGlobMatches('web-0?', 'web-07')).toBe(true);
    expect(hostGlobMatches('web-0?', 'web-070')).toBe(false);
    expect(hostGlobMatches('*', '')).toBe(true);
    expect(hostGlobMatches('*-eu-*', 'db-eu-1')).toBe(true);
    expect(hostGlobMatches('*-eu-*', 'db-us-1')).toBe(false);
    // A dot is a dot: `db.1` must not admit `dbx1`.
    expect(hostGlobMatches('db.1', 'dbx1')).toBe(false);
  });

  it('agrees with a regular expression on every glob and name, and never backtracks for long', () => {
    const char = fc.constantFrom('a', 'b', '-', '.', '*', '?');
    fc.assert(
      fc.property(
        fc.string({ unit: char, maxLength: 12 }),
        fc.string({ unit: fc.constantFrom('a', 'b', '-', '.'), maxLength: 14 }),
        (glob, name) => {
          const body = [...glob]
            .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.-]/g, '\\$&')))
            .join('');
          expect(hostGlobMatches(glob, name)).toBe(new RegExp(`^${body}$`).test(name));
        },
      ),
      { numRuns: 2000 },
    );
    // What held the regular expression for over a minute: a dozen stars against 253 a's.
    const t0 = performance.now();
    expect(hostGlobMatches(`${'*a'.repeat(12)}*b`, 'a'.repeat(253))).toBe(false);
    expect(performance.now() - t0).toBeLessThan(100);
  });
});
