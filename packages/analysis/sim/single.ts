import type { IncarnationInput } from '../src/score.ts';
import { historyOf } from './buckets-from-samples.ts';
import { buildFleet } from './fleet.ts';
import type { Component, ProcessSpec } from './scenario.ts';

const START = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;

/** One simulated process: its incarnations as the scorer receives them, and the window. */
export function simulate(
  pattern: Component[],
  hours: number,
  seed: number,
  extra: Partial<ProcessSpec> = {},
): {
  incarnations: IncarnationInput[];
  windowStartMs: number;
  windowEndMs: number;
  baseKb: number;
} {
  const fleet = buildFleet({
    name: 'unit',
    seed,
    start: START,
    durationHours: hours,
    sampleIntervalSec: 30,
    hosts: { count: 1, memTotalKb: 8 * 1024 * 1024 },
    processes: [{ name: 'p', baseKb: 500_000, pattern, startedHoursBefore: 24, ...extra }],
  });
  const inst = fleet.instances[0];
  if (!inst) throw new Error('no instance');
  const h = historyOf(fleet, inst);
  return {
    incarnations: h.buckets.map((buckets, k) => ({
      buckets,
      startedAtMs: inst.incarnations[k]?.startMs ?? null,
      limitKb: 8 * 1024 * 1024,
    })),
    windowStartMs: START,
    windowEndMs: START + hours * HOUR,
    baseKb: inst.baseKb,
  };
}
