// Long property run: npm run fuzz:procfs [-- TOTAL]  (default 1,050,000 inputs over all properties)
import fc from 'fast-check';
import { buildProperties } from '../src/fuzz-properties.ts';

const total = Number(process.argv[2] ?? 1_050_000);
const props = buildProperties();
const perProperty = Math.ceil(total / props.length);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
console.log(`fuzz: ${props.length} properties x ${perProperty} inputs, seed ${seed}`);
const t0 = performance.now();
let runs = 0;
let failed = false;
for (const { name, property } of props) {
  const t = performance.now();
  const details = fc.check(property, { numRuns: perProperty, seed });
  runs += details.numRuns;
  const secs = ((performance.now() - t) / 1000).toFixed(1);
  if (details.failed) {
    failed = true;
    console.log(`FAIL ${name} after ${details.numRuns} inputs (${secs} s)`);
    console.log(fc.defaultReportMessage(details));
  } else {
    console.log(`ok   ${name}: ${details.numRuns} inputs in ${secs} s`);
  }
}
const secs = (performance.now() - t0) / 1000;
console.log(`fuzz: ${runs} inputs in ${secs.toFixed(1)} s (${Math.round(runs / secs)}/s)`);
process.exitCode = failed ? 1 : 0;
