/**
 * `npm run bench:leaks:phases -- [STEP_MINUTES] [FILES…]`: the final verdicts of bench:leaks with
 * each scenario's start moved by 0, STEP, 2·STEP, … minutes within the hour. Storage cuts hours
 * and 5-minute buckets on the clock, so a scenario shifted by a few minutes is cut differently:
 * the same fleet, the same seed, other floors. A rule that holds at one phase only is luck.
 * Default: every 15 minutes, every scenario of bench/scenarios.
 */
import { readFileSync } from 'node:fs';
import { parseScenario, type Scenario } from '../sim/scenario.ts';
import { intArg } from './fresh.ts';
import { meetsPrecisionRecallGoals, runScenario, scenarioFiles } from './leaks.ts';

const MINUTE_MS = 60_000;

/** The scenario with its start moved later by `minutes` (same seed, same fleet). */
export function shiftedScenario(scenario: Scenario, minutes: number): Scenario {
  const start =
    typeof scenario.start === 'number' ? scenario.start : Date.parse(String(scenario.start));
  return { ...scenario, start: start + minutes * MINUTE_MS };
}

export interface PhaseFigures {
  minutes: number;
  precision: number;
  recall: number;
  fp: number;
  fn: number;
  goalsMet: boolean;
}

/** The robust detector's final verdicts at each phase, `stepMinutes` apart within an hour. */
export function phaseFigures(scenario: Scenario, stepMinutes: number): PhaseFigures[] {
  const out: PhaseFigures[] = [];
  for (let minutes = 0; minutes < 60; minutes += stepMinutes) {
    const d = runScenario(shiftedScenario(scenario, minutes)).robust;
    out.push({
      minutes,
      precision: d.precision,
      recall: d.recall,
      fp: d.fp,
      fn: d.fn,
      goalsMet: meetsPrecisionRecallGoals(d),
    });
  }
  return out;
}

export function phaseLine(name: string, phases: readonly PhaseFigures[]): string {
  const met = phases.filter((p) => p.goalsMet).length;
  const range = (values: number[]) => {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return lo === hi ? String(lo) : `${lo}–${hi}`;
  };
  const f3 = (values: number[]) => {
    const lo = Math.min(...values).toFixed(3);
    const hi = Math.max(...values).toFixed(3);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  return `${name.padEnd(18)} P/R goals at ${met} of ${phases.length} phases  precision ${f3(phases.map((p) => p.precision))}  recall ${f3(phases.map((p) => p.recall))}  false alarms ${range(phases.map((p) => p.fp))}  misses ${range(phases.map((p) => p.fn))}`;
}

if (import.meta.main) {
  const [stepArg, ...paths] = process.argv.slice(2);
  const step = intArg(stepArg, 'STEP_MINUTES', 1, 60, 15);
  const files = scenarioFiles(paths.length > 0 ? paths : ['bench/scenarios']);
  let met = 0;
  let total = 0;
  for (const file of files) {
    const scenario = parseScenario(JSON.parse(readFileSync(file, 'utf8')));
    const phases = phaseFigures(scenario, step);
    met += phases.filter((p) => p.goalsMet).length;
    total += phases.length;
    console.log(phaseLine(scenario.name, phases));
  }
  console.log(
    `\nprecision >= 0.97 and recall >= 0.95 at ${met} of ${total} (scenario, phase) pairs, phases ${step} minutes apart`,
  );
}
