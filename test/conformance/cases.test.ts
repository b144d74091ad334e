// Keeps the case list, the live test files and the stored goldens in step: a case added without
// capturing its goldens, or edited without re-capturing them, fails here.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cases, listingContext, liveGroups } from './cases.ts';
import { type GoldenRun, goldenRoot } from './golden.ts';

describe('conformance cases', () => {
  it('runs every case in exactly one live test file', () => {
    const grouped = Object.values(liveGroups).flat();
    expect([...grouped].sort()).toEqual(cases.map((c) => c.name).sort());
  });

  it('has run ids that are unique within each case', () => {
    for (const spec of cases) {
      const ids = spec.runs(listingContext).map((run) => run.id);
      expect(new Set(ids).size, spec.name).toBe(ids.length);
    }
  });

  it('has goldens for exactly the cases that keep them', () => {
    const stored = readdirSync(goldenRoot).sort();
    const expected = cases.filter((c) => c.golden !== false).map((c) => c.name);
    expect(stored).toEqual(expected.sort());
  });

  it('has goldens recorded from the current command lines', () => {
    for (const spec of cases.filter((c) => c.golden !== false)) {
      const runs = JSON.parse(
        readFileSync(join(goldenRoot, spec.name, 'runs.json'), 'utf8'),
      ) as GoldenRun[];
      const listed = spec.runs(listingContext);
      expect(
        runs.map((r) => [r.id, r.flags]),
        spec.name,
      ).toEqual(listed.map((r) => [r.id, r.flags]));
      for (const run of runs) {
        expect(existsSync(join(goldenRoot, spec.name, 'expected', `${run.id}.stdout`))).toBe(true);
      }
    }
  });
});
