/**
 * `npm run bench:leaks:fresh -- [COUNT] [SEED]`: the leak verdict on fleets nobody has looked
 * at. The scenario files of `bench:leaks` have been read while the rules were written, so their
 * figures flatter the rules; these fleets are drawn from the same archetypes with seeds from the
 * clock (printed, so any run can be repeated) and every window `top` is used with.
 */
import { parseScenario } from '../sim/scenario.ts';
import {
  formatResult,
  meetsPrecisionRecallGoals,
  runScenario,
  type ScenarioResult,
} from './leaks.ts';

/** Windows and durations cycled through: short windows see a day and a half of history. */
const SHAPES = [
  { windowHours: 6, durationHours: 36 },
  { windowHours: 8, durationHours: 48 },
  { windowHours: 12, durationHours: 36 },
  { windowHours: 24, durationHours: 48 },
  { windowHours: 36, durationHours: 36 },
  { windowHours: 48, durationHours: 48 },
] as const;

export function intArg(
  value: string | undefined,
  name: string,
  lo: number,
  hi: number,
  fallback: number,
) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    throw new Error(`${name}: an integer in [${lo}, ${hi}], got ${JSON.stringify(value)}`);
  }
  return n;
}

export function freshScenario(seed: number, k: number) {
  const shape = SHAPES[k % SHAPES.length] as (typeof SHAPES)[number];
  return parseScenario({
    name: `fresh-${seed}`,
    description: `A random mix of every archetype drawn for this run (seed ${seed})`,
    seed,
    start: '2026-11-10T00:00:00Z',
    ...shape,
    sampleIntervalSec: 60,
    generate: { seed, hosts: 25, processesPerHost: 10, leakShare: 0.3 },
  });
}

export function summaryLine(r: ScenarioResult): string {
  const d = r.robust;
  const met = meetsPrecisionRecallGoals(d);
  return `${r.name.padEnd(14)} window ${String(r.windowHours).padStart(2)}h  precision ${d.precision.toFixed(3)}  recall ${d.recall.toFixed(3)}  F1 ${d.f1.toFixed(3)}  baseline F1 ${r.baseline.f1.toFixed(3)}  ${met ? 'P/R goals met' : 'P/R goals NOT met'}${d.f1 >= r.baseline.f1 ? '' : ', baseline better'}`;
}

if (import.meta.main) {
  const [countArg, seedArg] = process.argv.slice(2);
  const count = intArg(countArg, 'COUNT', 1, 100, 6);
  const base = intArg(seedArg, 'SEED', 1, 2 ** 31 - 1 - count, Date.now() % 1_000_000_000);
  console.log(
    `fresh fleets: ${count}, seeds ${base}…${base + count - 1} (repeat: ${count} ${base})\n`,
  );
  const results: ScenarioResult[] = [];
  for (let k = 0; k < count; k++) {
    const r = runScenario(freshScenario(base + k, k));
    console.log(`${formatResult(r)}\n`);
    results.push(r);
  }
  for (const r of results) console.log(summaryLine(r));
  const met = results.filter((r) => meetsPrecisionRecallGoals(r.robust));
  const better = results.filter((r) => r.robust.f1 >= r.baseline.f1);
  console.log(
    `\nprecision >= 0.97 and recall >= 0.95 on ${met.length} of ${results.length}; F1 at least the baseline's on ${better.length} of ${results.length}`,
  );
}
