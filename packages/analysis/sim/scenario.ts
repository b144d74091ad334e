/**
 * Scenario files: a fleet of hosts, the processes on them and how each process's anonymous
 * memory behaves. Numbers given as `[lo, hi]` are drawn uniformly per process instance, so one
 * file describes a population rather than one curve.
 */
export type Range = number | readonly [number, number];

export type Component =
  | { type: 'flat' }
  /** Ornstein–Uhlenbeck noise: stationary sd `pct` % of base, correlation time `corrMinutes`. */
  | { type: 'noise'; pct: Range; corrMinutes?: Range }
  /** Leak: `pctPerHour` % of base per hour of incarnation time, from `afterHours` on. */
  | { type: 'linear'; pctPerHour: Range; afterHours?: Range }
  /** Leak: a jump of `stepPct` % every ~`everyHours` (renewal process, ±50 % jitter). */
  | { type: 'step'; stepPct: Range; everyHours: Range }
  /** Leak under load only: growth at `pctPerHour` during bursts of `burstMinutes`. */
  | { type: 'bursty'; pctPerHour: Range; burstMinutes: Range; everyHours: Range }
  /** Garbage-collected heap: rises by `amplitudePct` then drops, every `periodMinutes`. */
  | { type: 'sawtooth'; amplitudePct: Range; periodMinutes: Range }
  /** Cache warm-up after start: approaches `plateauPct` with time constant `minutes` / 3. */
  | { type: 'warmup'; plateauPct: Range; minutes: Range }
  /** Ever slower growth: `pct` · ln(1 + t/τ). */
  | { type: 'log'; pct: Range; tauMinutes: Range }
  /** Load that follows the day and returns to its level. */
  | { type: 'diurnal'; amplitudePct: Range; periodHours?: Range; phaseHours?: Range }
  /** Transient allocations freed within `minutes`. */
  | { type: 'spikes'; perHour: Range; pct: Range; minutes: Range };

export const LEAK_COMPONENTS = new Set(['linear', 'step', 'bursty']);

export interface ProcessSpec {
  /** Identity of the service in the ground truth (one per host). */
  name: string;
  comm?: string;
  exe?: string;
  cgroup?: string;
  /** Share of the hosts that run it (default 1), chosen by the seed. */
  hostShare?: number;
  baseKb: Range;
  pattern: Component[];
  /** Leak components applied on `leakHostShare` of its hosts (default all). */
  leak?: Component[];
  leakHostShare?: number;
  restart?: { everyHours: Range; jitter?: number };
  /** How long the process had been running when the scenario starts (default 0). */
  startedHoursBefore?: Range;
}

export interface GenerateSpec {
  seed: number;
  hosts: number;
  processesPerHost: number;
  /** Share of process kinds that leak somewhere. */
  leakShare: number;
}

export interface Scenario {
  name: string;
  description?: string;
  seed: number;
  /** ISO time or ms of the first sample. */
  start: string | number;
  durationHours: number;
  sampleIntervalSec: number;
  /** The window the final verdict is taken over (default: the whole duration). */
  windowHours?: number;
  hosts?: { count: number; prefix?: string; memTotalKb?: number };
  processes?: ProcessSpec[];
  /** Instead of (or in addition to) `processes`: a random mix drawn from archetypes. */
  generate?: GenerateSpec;
}

const LIMITS = { hosts: 2000, processes: 500, durationHours: 24 * 14, samples: 50_000_000 };

export class ScenarioError extends Error {
  readonly code = 'SCENARIO_INVALID';
}

/** Validates parsed JSON as a scenario, with limits so a typo cannot ask for a terabyte. */
export function parseScenario(input: unknown): Scenario {
  const fail = (msg: string): never => {
    throw new ScenarioError(msg);
  };
  if (typeof input !== 'object' || input === null) fail('scenario: expected an object');
  const s = input as Record<string, unknown>;
  if (typeof s.name !== 'string' || s.name.length === 0 || s.name.length > 100)
    fail('name: string of 1–100 characters');
  if (!Number.isInteger(s.seed)) fail('seed: integer');
  if (typeof s.start !== 'string' && typeof s.start !== 'number') fail('start: ISO time or ms');
  if (Number.isNaN(startMs(s as unknown as Scenario))) fail('start: not a valid time');
  const num = (k: string, lo: number, hi: number) => {
    const v = s[k];
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) fail(`${k}: number in [${lo}, ${hi}]`);
  };
  num('durationHours', 0.5, LIMITS.durationHours);
  num('sampleIntervalSec', 1, 3600);
  if (s.windowHours !== undefined) num('windowHours', 0.5, LIMITS.durationHours);
  const hosts = s.hosts as Scenario['hosts'];
  const gen = s.generate as GenerateSpec | undefined;
  if (!hosts && !gen) fail('hosts or generate: one is required');
  if (
    hosts &&
    !(Number.isInteger(hosts.count) && hosts.count >= 1 && hosts.count <= LIMITS.hosts)
  ) {
    fail(`hosts.count: integer in [1, ${LIMITS.hosts}]`);
  }
  if (gen) {
    if (!Number.isInteger(gen.seed)) fail('generate.seed: integer');
    if (!(Number.isInteger(gen.hosts) && gen.hosts >= 1 && gen.hosts <= LIMITS.hosts))
      fail('generate.hosts: integer');
    if (
      !(
        Number.isInteger(gen.processesPerHost) &&
        gen.processesPerHost >= 1 &&
        gen.processesPerHost <= 200
      )
    ) {
      fail('generate.processesPerHost: integer in [1, 200]');
    }
    if (!(gen.leakShare >= 0 && gen.leakShare <= 1)) fail('generate.leakShare: number in [0, 1]');
  }
  const procs = (s.processes ?? []) as ProcessSpec[];
  if (!Array.isArray(procs) || procs.length > LIMITS.processes)
    fail(`processes: array of at most ${LIMITS.processes}`);
  for (const [i, p] of procs.entries()) {
    if (typeof p.name !== 'string' || !/^[\w.@:-]{1,64}$/.test(p.name))
      fail(`processes[${i}].name: 1–64 word characters`);
    checkRange(p.baseKb, `processes[${i}].baseKb`, 1, 1e9, fail);
    if (!Array.isArray(p.pattern)) fail(`processes[${i}].pattern: array of components`);
    for (const [j, c] of [...p.pattern, ...(p.leak ?? [])].entries())
      checkComponent(c, `processes[${i}].component[${j}]`, fail);
  }
  const hostCount = hosts?.count ?? gen?.hosts ?? 0;
  const perHost = procs.length + (gen?.processesPerHost ?? 0);
  const samples =
    ((s.durationHours as number) * 3600 * hostCount * perHost) / (s.sampleIntervalSec as number);
  if (samples > LIMITS.samples)
    fail(`scenario too large: ${Math.round(samples)} samples > ${LIMITS.samples}`);
  return s as unknown as Scenario;
}

const COMPONENT_FIELDS: Record<string, string[]> = {
  flat: [],
  noise: ['pct'],
  linear: ['pctPerHour'],
  step: ['stepPct', 'everyHours'],
  bursty: ['pctPerHour', 'burstMinutes', 'everyHours'],
  sawtooth: ['amplitudePct', 'periodMinutes'],
  warmup: ['plateauPct', 'minutes'],
  log: ['pct', 'tauMinutes'],
  diurnal: ['amplitudePct'],
  spikes: ['perHour', 'pct', 'minutes'],
};

function checkComponent(c: unknown, where: string, fail: (m: string) => never): void {
  if (typeof c !== 'object' || c === null) fail(`${where}: object`);
  const o = c as Record<string, unknown>;
  const fields = COMPONENT_FIELDS[o.type as string];
  if (!fields) fail(`${where}.type: one of ${Object.keys(COMPONENT_FIELDS).join(', ')}`);
  for (const f of fields ?? []) checkRange(o[f], `${where}.${f}`, 0, 1e6, fail);
}

function checkRange(
  v: unknown,
  where: string,
  lo: number,
  hi: number,
  fail: (m: string) => never,
): void {
  const ok = (x: unknown) => typeof x === 'number' && x >= lo && x <= hi;
  if (Array.isArray(v) ? !(v.length === 2 && ok(v[0]) && ok(v[1])) : !ok(v))
    fail(`${where}: number or [lo, hi] in [${lo}, ${hi}]`);
}

export function startMs(s: Scenario): number {
  return typeof s.start === 'number' ? s.start : Date.parse(s.start);
}
