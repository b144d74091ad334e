import { archetypeMix } from './archetypes.ts';
import { Rng } from './rng.ts';
import {
  type Component,
  LEAK_COMPONENTS,
  type ProcessSpec,
  type Range,
  type Scenario,
  startMs,
} from './scenario.ts';

const HOUR = 3_600_000;

export interface Incarnation {
  startMs: number;
  /** Exclusive; the scenario end for the last one. */
  endMs: number;
  pid: number;
}

/** One process of the fleet on one host, with every random parameter already drawn. */
export interface Instance {
  host: string;
  name: string;
  comm: string;
  exe: string;
  cgroup: string;
  /** Ground truth: a leak component is active on this host. */
  leak: boolean;
  /** When the leak started showing (first incarnation start, or its `afterHours`), ms. */
  leakOnsetMs: number | null;
  baseKb: number;
  incarnations: Incarnation[];
  components: Component[];
  seed: number;
}

export interface Fleet {
  scenario: Scenario;
  startMs: number;
  endMs: number;
  intervalMs: number;
  bootMs: number;
  hosts: { name: string; memTotalKb: number; bootId: string }[];
  instances: Instance[];
}

function draw(rng: Rng, r: Range | undefined, fallback: number): number {
  if (r === undefined) return fallback;
  return typeof r === 'number' ? r : rng.uniform(r[0], r[1]);
}

/** Expands a scenario into concrete hosts and process instances (deterministic in the seed). */
export function buildFleet(scenario: Scenario): Fleet {
  const rng = new Rng(scenario.seed);
  const t0 = startMs(scenario);
  const t1 = t0 + scenario.durationHours * HOUR;
  const count = scenario.hosts?.count ?? scenario.generate?.hosts ?? 1;
  const prefix = scenario.hosts?.prefix ?? 'host-';
  const memTotalKb = scenario.hosts?.memTotalKb ?? 16 * 1024 * 1024;
  const hosts = Array.from({ length: count }, (_, i) => ({
    name: `${prefix}${String(i + 1).padStart(3, '0')}`,
    memTotalKb,
    bootId: uuidFrom(rng),
  }));
  const specs: ProcessSpec[] = [...(scenario.processes ?? [])];
  if (scenario.generate) specs.push(...archetypeMix(scenario.generate, hosts.length));
  const instances: Instance[] = [];
  const bootMs = t0 - 10 * 24 * HOUR;
  for (const [si, spec] of specs.entries()) {
    const specRng = rng.fork(`spec:${si}:${spec.name}`);
    const runsOn = hosts.filter(() => specRng.next() < (spec.hostShare ?? 1));
    const leakHosts = new Set(runsOn.filter(() => specRng.next() < (spec.leakHostShare ?? 1)));
    for (const host of runsOn) {
      const r = specRng.fork(host.name);
      const leakComponents = leakHosts.has(host) ? (spec.leak ?? []) : [];
      const components = [...spec.pattern, ...leakComponents];
      const before = draw(r, spec.startedHoursBefore, 0) * HOUR;
      const incarnations = restarts(r, t0 - before, t1, spec.restart);
      const leaky = components.some((c) => LEAK_COMPONENTS.has(c.type));
      const linear = components.find((c) => c.type === 'linear');
      const after = linear && linear.type === 'linear' ? draw(r, linear.afterHours, 0) * HOUR : 0;
      const onset = leaky ? Math.max(t0, (incarnations[0]?.startMs ?? t0) + after) : null;
      instances.push({
        host: host.name,
        name: spec.name,
        comm: (spec.comm ?? spec.name).slice(0, 15),
        exe: spec.exe ?? `/usr/bin/${spec.name}`,
        cgroup: spec.cgroup ?? `/system.slice/${spec.name}.service`,
        leak: leaky,
        leakOnsetMs: onset,
        baseKb: Math.round(draw(r, spec.baseKb, 100_000)),
        incarnations,
        components: components.map((c) => concretise(c, r)),
        seed: Math.floor(r.next() * 2 ** 31),
      });
    }
  }
  // Distinct pids per host, as the kernel would hand them out.
  const nextPid = new Map<string, number>();
  for (const inst of instances) {
    for (const inc of inst.incarnations) {
      const pid =
        (nextPid.get(inst.host) ?? 1000 + Math.floor(rng.next() * 1000)) +
        1 +
        Math.floor(rng.next() * 40);
      nextPid.set(inst.host, pid);
      inc.pid = pid;
    }
  }
  return {
    scenario,
    startMs: t0,
    endMs: t1,
    intervalMs: scenario.sampleIntervalSec * 1000,
    bootMs,
    hosts,
    instances,
  };
}

function restarts(
  rng: Rng,
  firstStart: number,
  end: number,
  spec: ProcessSpec['restart'],
): Incarnation[] {
  const out: Incarnation[] = [];
  let s = firstStart;
  while (s < end) {
    let e = end;
    if (spec) {
      const every = draw(rng, spec.everyHours, 24) * HOUR;
      const j = spec.jitter ?? 0.3;
      e = Math.min(end, s + every * rng.uniform(1 - j, 1 + j));
    }
    out.push({ startMs: Math.round(s), endMs: Math.round(e), pid: 0 });
    // A restart takes a few seconds; the new incarnation starts right after.
    s = e + 5_000;
  }
  return out;
}

/** Replaces every range by one drawn value, so each instance has fixed parameters. */
function concretise(c: Component, rng: Rng): Component {
  const out: Record<string, unknown> = { type: c.type };
  for (const [k, v] of Object.entries(c)) {
    if (k !== 'type') out[k] = Array.isArray(v) ? draw(rng, v as unknown as Range, 0) : v;
  }
  return out as Component;
}

function uuidFrom(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng.next() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((Number.parseInt(hex[16] as string, 16) & 3) | 8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

type Signal = (tMs: number, inc: Incarnation, newIncarnation: boolean) => number;

const num = (v: unknown, fallback: number) => (typeof v === 'number' ? v : fallback);

function signal(c: Component, rng: Rng, fleet: Fleet, intervalMs: number): Signal {
  const p = c as unknown as Record<string, unknown>;
  switch (c.type) {
    case 'flat':
      return () => 0;
    case 'noise': {
      const sd = num(p.pct, 1);
      const phi = Math.exp(-intervalMs / (num(p.corrMinutes, 5) * 60_000));
      const innov = sd * Math.sqrt(1 - phi * phi);
      let x = 0;
      return (_t, _inc, fresh) => {
        x = fresh ? sd * rng.normal() : phi * x + innov * rng.normal();
        return x;
      };
    }
    case 'linear': {
      const rate = num(p.pctPerHour, 1);
      const after = num(p.afterHours, 0);
      return (t, inc) => rate * Math.max(0, (t - inc.startMs) / HOUR - after);
    }
    case 'step': {
      const size = num(p.stepPct, 5);
      const every = num(p.everyHours, 2) * HOUR;
      let steps: number[] = [];
      return (t, inc, fresh) => {
        if (fresh) {
          steps = [];
          for (
            let s = inc.startMs + every * rng.uniform(0.5, 1.5);
            s < inc.endMs;
            s += every * rng.uniform(0.5, 1.5)
          )
            steps.push(s);
        }
        let k = 0;
        while (k < steps.length && (steps[k] as number) <= t) k++;
        return size * k;
      };
    }
    case 'bursty': {
      const rate = num(p.pctPerHour, 5);
      const bursts = events(
        rng,
        fleet.startMs - 48 * HOUR,
        fleet.endMs,
        num(p.everyHours, 3) * HOUR,
        num(p.burstMinutes, 30) * 60_000,
      );
      return (t, inc) => (rate * overlap(bursts, inc.startMs, t)) / HOUR;
    }
    case 'sawtooth': {
      const amp = num(p.amplitudePct, 10);
      const period = num(p.periodMinutes, 2) * 60_000;
      const phase = rng.next();
      return (t, inc) => {
        const f = (t - inc.startMs) / period + phase;
        return amp * (f - Math.floor(f));
      };
    }
    case 'warmup': {
      const plateau = num(p.plateauPct, 20);
      const tau = (num(p.minutes, 30) * 60_000) / 3;
      return (t, inc) => plateau * (1 - Math.exp(-(t - inc.startMs) / tau));
    }
    case 'log': {
      const pct = num(p.pct, 5);
      const tau = num(p.tauMinutes, 10) * 60_000;
      return (t, inc) => pct * Math.log1p(Math.max(0, t - inc.startMs) / tau);
    }
    case 'diurnal': {
      const amp = num(p.amplitudePct, 10);
      const period = num(p.periodHours, 24) * HOUR;
      const phase = num(p.phaseHours, rng.uniform(0, 24)) * HOUR;
      return (t) => amp * Math.sin((2 * Math.PI * (t + phase)) / period);
    }
    case 'spikes': {
      const pct = num(p.pct, 10);
      const spikes = events(
        rng,
        fleet.startMs,
        fleet.endMs,
        HOUR / Math.max(1e-6, num(p.perHour, 1)),
        num(p.minutes, 1) * 60_000,
      );
      let i = 0;
      return (t) => {
        while (i < spikes.length && (spikes[i] as [number, number])[1] <= t) i++;
        const s = spikes[i];
        return s && s[0] <= t ? pct : 0;
      };
    }
  }
}

/** Poisson arrivals of intervals [start, start + length), non-overlapping, sorted. */
function events(
  rng: Rng,
  from: number,
  to: number,
  meanGapMs: number,
  lengthMs: number,
): [number, number][] {
  const out: [number, number][] = [];
  let t = from + rng.exponential(meanGapMs);
  while (t < to) {
    const len = lengthMs * rng.uniform(0.5, 1.5);
    out.push([t, t + len]);
    t += len + rng.exponential(meanGapMs);
  }
  return out;
}

function overlap(intervals: readonly [number, number][], from: number, to: number): number {
  let total = 0;
  for (const [a, b] of intervals) {
    if (a >= to) break;
    const lo = Math.max(a, from);
    const hi = Math.min(b, to);
    if (hi > lo) total += hi - lo;
  }
  return total;
}

/**
 * Calls `onSample` for every sample of one instance in time order: anon KiB (RssAnon + VmSwap)
 * of the live incarnation. Samples fall on the scenario's grid; none while restarting.
 */
export function sampleInstance(
  fleet: Fleet,
  inst: Instance,
  onSample: (tMs: number, incarnation: number, anonKb: number, leakPct: number) => void,
): void {
  const rng = new Rng(inst.seed);
  const signals = inst.components.map((c, i) =>
    signal(c, rng.fork(`c${i}`), fleet, fleet.intervalMs),
  );
  const leaky = inst.components.map((c) => LEAK_COMPONENTS.has(c.type));
  let k = 0;
  let current = -1;
  for (let t = fleet.startMs; t < fleet.endMs; t += fleet.intervalMs) {
    while (k < inst.incarnations.length && (inst.incarnations[k] as Incarnation).endMs <= t) k++;
    const inc = inst.incarnations[k];
    if (!inc || inc.startMs > t) continue;
    const fresh = k !== current;
    current = k;
    let pct = 0;
    let leakPct = 0;
    for (const [i, s] of signals.entries()) {
      const v = s(t, inc, fresh);
      pct += v;
      if (leaky[i]) leakPct += v;
    }
    const kb = Math.max(256, Math.round(inst.baseKb * (1 + pct / 100)));
    onSample(t, k, kb, leakPct);
  }
}
