import fc from 'fast-check';
import { describe, it } from 'vitest';
import { buildProperties } from './fuzz-properties.ts';

// A short budget on every run; `npm run fuzz:procfs` runs the same properties for 10^6+ inputs.
const RUNS = Number(process.env.FLEETPMAP_FUZZ_RUNS ?? 300);

describe('property tests', () => {
  for (const { name, property } of buildProperties()) {
    it(name, () => {
      fc.assert(property, { numRuns: RUNS });
    }, 60_000);
  }
});
