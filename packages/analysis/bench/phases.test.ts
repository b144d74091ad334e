import { describe, expect, it } from 'vitest';
import { buildFleet } from '../sim/fleet.ts';
import { parseScenario } from '../sim/scenario.ts';
import { phaseFigures, phaseLine, shiftedScenario } from './phases.ts';

const scenario = parseScenario({
  name: 'phases',
  seed: 4,
  start: '2026-11-01T00:00:00Z',
  durationHours: 10,
  sampleIntervalSec: 300,
  hosts: { count: 3 },
  processes: [
    {
      name: 'api',
      baseKb: 200_000,
      pattern: [{ type: 'noise', pct: 0.5 }],
      leak: [{ type: 'linear', pctPerHour: 3 }],
    },
    { name: 'db', baseKb: 300_000, pattern: [{ type: 'noise', pct: 0.5 }] },
  ],
});

describe('bench:leaks:phases', () => {
  it('moves the start only: the same fleet, cut differently by the clock', () => {
    const moved = shiftedScenario(scenario, 25);
    const a = buildFleet(scenario);
    const b = buildFleet(moved);
    expect(b.startMs - a.startMs).toBe(25 * 60_000);
    expect(b.instances.map((i) => [i.host, i.name, i.leak, i.baseKb])).toEqual(
      a.instances.map((i) => [i.host, i.name, i.leak, i.baseKb]),
    );
  });

  it('judges every phase and says at how many the goals hold', () => {
    const phases = phaseFigures(scenario, 20);
    expect(phases.map((p) => p.minutes)).toEqual([0, 20, 40]);
    // A plain 3 %/h leak beside quiet processes: right at every phase.
    for (const p of phases) expect(p).toMatchObject({ fp: 0, fn: 0, goalsMet: true });
    expect(phaseLine('phases', phases)).toMatch(
      /^phases\s+P\/R goals at 3 of 3 phases {2}precision 1\.000 {2}recall 1\.000 {2}false alarms 0 {2}misses 0$/,
    );
    const mixed = phaseLine('mixed', [
      { minutes: 0, precision: 1, recall: 1, fp: 0, fn: 0, goalsMet: true },
      { minutes: 30, precision: 0.9, recall: 1, fp: 2, fn: 0, goalsMet: false },
    ]);
    expect(mixed).toMatch(/goals at 1 of 2 phases {2}precision 0\.900–1\.000 .* false alarms 0–2/);
  });
});
