import { accessSync, constants } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildScenario, type ScenarioBinaries, ScenarioGroup } from '../support/scenario.ts';
import { type CaseSpec, cases, listingContext } from './cases.ts';
import { expectSameOutcome, runTitle } from './compare.ts';
import { type CaseOutcome, pythonBin, runCase } from './driver.ts';
import { liveUnavailableReason } from './programs.ts';

const inCi = process.env.CI === 'true';

function missingComponent(spec: CaseSpec): string | undefined {
  if (spec.processes.some((p) => p.kind === 'python')) {
    try {
      accessSync(pythonBin, constants.X_OK);
    } catch {
      return `${pythonBin} is not installed`;
    }
  }
  return undefined;
}

/**
 * Declares the live comparison of fleetpmap with the real pmap for the named cases: one test
 * per command line. Outside CI a missing component skips with its reason; in CI it fails.
 */
export function defineLiveSuite(names: readonly string[]): void {
  const selected = names.map((name) => {
    const spec = cases.find((c) => c.name === name);
    if (spec === undefined) throw new Error(`unknown case ${name}`);
    return spec;
  });
  const unavailable = liveUnavailableReason();
  if (unavailable !== undefined && !inCi) {
    console.warn(`skipping the live pmap conformance cases: ${unavailable}`);
    describe.skip('live pmap conformance', () => {
      it('needs root, pmap, gcc and unshare', () => {});
    });
    return;
  }

  const group = new ScenarioGroup();
  let binaries: ScenarioBinaries | undefined;
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`live conformance cannot run: ${unavailable}`);
    binaries = await buildScenario();
    group.addDir(binaries.dir);
  }, 120_000);
  afterAll(async () => {
    await group.dispose();
  }, 60_000);

  for (const spec of selected) {
    const missing = missingComponent(spec);
    if (missing !== undefined && !inCi) {
      console.warn(`skipping live case ${spec.name}: ${missing}`);
      describe.skip(spec.name, () => {
        it('needs its component', () => {});
      });
      continue;
    }
    describe(spec.name, () => {
      let outcome: CaseOutcome | undefined;
      beforeAll(async () => {
        if (missing !== undefined) throw new Error(`${spec.name}: ${missing}`);
        if (binaries === undefined) throw new Error('scenario binaries were not built');
        // Each case's processes are killed as soon as its runs are done, not only at the end.
        const caseGroup = new ScenarioGroup();
        try {
          outcome = await runCase(spec, binaries, caseGroup, { subject: true });
        } finally {
          await caseGroup.dispose();
        }
      }, 600_000);
      for (const run of spec.runs(listingContext)) {
        it(runTitle(run), () => {
          const result = outcome?.runs.find((r) => r.run.id === run.id);
          if (result?.actual === undefined) throw new Error('the case did not run');
          if (run.pmapRc !== undefined) {
            expect(result.expected.rc, 'exit code of the real pmap').toBe(run.pmapRc);
          }
          expectSameOutcome(`${spec.name}/${run.id}`, result.actual, result.expected);
        });
      }
    });
  }
}
