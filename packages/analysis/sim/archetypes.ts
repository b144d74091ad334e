import { Rng } from './rng.ts';
import type { Component, GenerateSpec, ProcessSpec } from './scenario.ts';

type R = readonly [number, number];
const u = (rng: Rng, r: R) => Math.round(rng.uniform(r[0], r[1]) * 100) / 100;
/** A sub-range of `r` drawn per process kind, so instances of one kind are similar but not equal. */
const sub = (rng: Rng, r: R): [number, number] => {
  const a = rng.uniform(r[0], r[1]);
  return [Math.round(a * 100) / 100, Math.round(Math.min(r[1], a * 1.3) * 100) / 100];
};

const BASES: { name: string; make: (rng: Rng) => Pick<ProcessSpec, 'pattern' | 'restart'> }[] = [
  {
    name: 'steady',
    make: (r) => ({
      pattern: [{ type: 'noise', pct: sub(r, [0.2, 3]), corrMinutes: sub(r, [1, 60]) }],
    }),
  },
  {
    name: 'gc',
    make: (r) => ({
      pattern: [
        { type: 'sawtooth', amplitudePct: sub(r, [5, 40]), periodMinutes: sub(r, [0.5, 8]) },
        { type: 'noise', pct: sub(r, [0.2, 2]), corrMinutes: sub(r, [1, 30]) },
      ],
    }),
  },
  {
    name: 'cache',
    make: (r) => ({
      pattern: [
        { type: 'warmup', plateauPct: sub(r, [10, 80]), minutes: sub(r, [5, 40]) },
        { type: 'noise', pct: sub(r, [0.2, 2]), corrMinutes: sub(r, [1, 30]) },
      ],
      restart: r.next() < 0.5 ? { everyHours: sub(r, [3, 10]) } : undefined,
    }),
  },
  {
    name: 'index',
    make: (r) => ({
      pattern: [
        { type: 'log', pct: sub(r, [1, 4]), tauMinutes: sub(r, [1, 10]) },
        { type: 'noise', pct: sub(r, [0.2, 1]), corrMinutes: sub(r, [1, 20]) },
      ],
    }),
  },
  {
    name: 'web',
    make: (r) => ({
      pattern: [
        { type: 'diurnal', amplitudePct: sub(r, [3, 20]) },
        { type: 'sawtooth', amplitudePct: sub(r, [2, 15]), periodMinutes: sub(r, [0.5, 5]) },
        { type: 'noise', pct: sub(r, [0.2, 2]), corrMinutes: sub(r, [1, 30]) },
      ],
    }),
  },
  {
    name: 'batch',
    make: (r) => ({
      pattern: [
        {
          type: 'spikes',
          perHour: sub(r, [0.5, 6]),
          pct: sub(r, [20, 100]),
          minutes: sub(r, [0.5, 3]),
        },
        { type: 'noise', pct: sub(r, [0.2, 2]), corrMinutes: sub(r, [1, 30]) },
      ],
    }),
  },
];

const LEAKS: {
  name: string;
  make: (rng: Rng) => { leak: Component[]; restart?: ProcessSpec['restart'] };
}[] = [
  { name: 'linear', make: (r) => ({ leak: [{ type: 'linear', pctPerHour: sub(r, [0.5, 5]) }] }) },
  {
    name: 'step',
    make: (r) => ({
      leak: [{ type: 'step', stepPct: sub(r, [2, 10]), everyHours: sub(r, [0.5, 3]) }],
    }),
  },
  {
    name: 'bursty',
    make: (r) => ({
      leak: [
        {
          type: 'bursty',
          pctPerHour: sub(r, [5, 20]),
          burstMinutes: sub(r, [15, 60]),
          everyHours: sub(r, [1, 4]),
        },
      ],
    }),
  },
  {
    name: 'restarted',
    make: (r) => ({
      leak: [{ type: 'linear', pctPerHour: sub(r, [1, 6]) }],
      restart: { everyHours: sub(r, [3, 8]) },
    }),
  },
];

/**
 * A random fleet mix for `generate`: process kinds drawn from the archetypes above with
 * parameters drawn from wide ranges, so a benchmark can run on mixes nobody tuned against.
 */
export function archetypeMix(gen: GenerateSpec, _hosts: number): ProcessSpec[] {
  const rng = new Rng(gen.seed);
  const out: ProcessSpec[] = [];
  for (let i = 0; i < gen.processesPerHost; i++) {
    const base = rng.pick(BASES);
    const made = base.make(rng);
    const spec: ProcessSpec = {
      name: `${base.name}${i}`,
      exe: `/opt/${base.name}${i}/bin/${base.name}d`,
      baseKb: [u(rng, [20_000, 400_000]), u(rng, [400_000, 4_000_000])],
      hostShare: u(rng, [0.5, 1]),
      startedHoursBefore: rng.next() < 0.5 ? 0 : [0, 48],
      ...made,
    };
    if (rng.next() < gen.leakShare) {
      const kind = rng.pick(LEAKS);
      const leak = kind.make(rng);
      spec.name = `${base.name}${i}-${kind.name}`;
      spec.leak = leak.leak;
      spec.leakHostShare = u(rng, [0.2, 1]);
      if (leak.restart) spec.restart = leak.restart;
    }
    if (!spec.restart) delete spec.restart;
    out.push(spec);
  }
  return out;
}
