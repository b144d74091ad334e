// Records golden files: for every case that keeps goldens, the frozen /proc input and the real
// pmap's output for each command line. Needs root, /usr/bin/pmap, gcc and unshare.
// Usage: npm run conformance:capture [-- CASE…]
import { buildScenario, ScenarioGroup } from '../support/scenario.ts';
import { cases } from './cases.ts';
import { runCase } from './driver.ts';
import { writeGolden } from './golden.ts';
import { liveUnavailableReason } from './programs.ts';

const unavailable = liveUnavailableReason();
if (unavailable !== undefined) {
  console.error(`conformance:capture: ${unavailable}`);
  process.exit(1);
}
const wanted = process.argv.slice(2);
const selected = cases.filter(
  (spec) => spec.golden !== false && (wanted.length === 0 || wanted.includes(spec.name)),
);
const group = new ScenarioGroup();
try {
  const binaries = await buildScenario();
  group.addDir(binaries.dir);
  for (const spec of selected) {
    const caseGroup = new ScenarioGroup();
    try {
      const outcome = await runCase(spec, binaries, caseGroup, { subject: false });
      await writeGolden(outcome);
      console.log(`${spec.name}: ${outcome.runs.length} runs`);
    } finally {
      await caseGroup.dispose();
    }
  }
} finally {
  await group.dispose();
}
