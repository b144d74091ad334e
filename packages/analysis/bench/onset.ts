/**
 * `npm run bench:onset -- [SEEDS]`: how well `growthOnset` tells when a leak began, on simulated
 * processes whose memory was level for hours and then started to leak, under the noise, garbage
 * collection, daily load and steps the scenario simulator draws. Beside it, in the same run, the
 * reference an analyst would reach for: a least-squares broken line ("hinge") fitted to every
 * 5-minute mean. Both are asked only where `fleetpmap history` asks, when the verdict is a leak.
 * Control: leaks that grew through the whole window, where any onset reported is a false one.
 */
import { historyOf } from '../sim/buckets-from-samples.ts';
import { buildFleet } from '../sim/fleet.ts';
import type { Component } from '../sim/scenario.ts';
import type { MetricBucket } from '../src/buckets.ts';
import { growthOnset } from '../src/change-point.ts';
import { median, quantile } from '../src/quantile.ts';
import { floorPoints, scoreIncarnation } from '../src/score.ts';
import { intArg } from './fresh.ts';

const HOUR = 3_600_000;
const START = Date.UTC(2026, 10, 1);
const WINDOW_MS = 24 * HOUR;
/** How long the leak has been running when `history` is asked. */
const SHOWN_MS = 6 * HOUR;

interface Family {
  name: string;
  /**
   * `mid-life`: the leak starts after a level stretch; `throughout`: it grows from the start;
   * `none`: no leak, where every process flagged is a false alarm.
   */
  kind: 'mid-life' | 'throughout' | 'none';
  pattern: Component[];
}

const noise: Component = { type: 'noise', pct: [0.5, 2], corrMinutes: [10, 45] };
const lateLinear: Component = { type: 'linear', pctPerHour: [1, 5], afterHours: [4, 16] };

const FAMILIES: Family[] = [
  { name: 'linear after a level stretch, noise', kind: 'mid-life', pattern: [noise, lateLinear] },
  {
    name: 'linear after a level stretch, GC saw-tooth',
    kind: 'mid-life',
    pattern: [
      { type: 'noise', pct: [0.3, 1], corrMinutes: [10, 30] },
      { type: 'sawtooth', amplitudePct: [5, 20], periodMinutes: [10, 60] },
      lateLinear,
    ],
  },
  {
    name: 'linear after a level stretch, daily load',
    kind: 'mid-life',
    pattern: [noise, { type: 'diurnal', amplitudePct: [3, 8] }, lateLinear],
  },
  {
    name: 'steps',
    kind: 'mid-life',
    pattern: [noise, { type: 'step', stepPct: [4, 10], everyHours: [3, 6] }],
  },
  {
    name: 'control: linear through the whole window',
    kind: 'throughout',
    pattern: [noise, { type: 'linear', pctPerHour: [1, 5] }],
  },
  { name: 'no leak: noise', kind: 'none', pattern: [noise] },
  {
    name: 'no leak: GC saw-tooth',
    kind: 'none',
    pattern: [
      { type: 'noise', pct: [0.3, 1], corrMinutes: [10, 30] },
      { type: 'sawtooth', amplitudePct: [5, 20], periodMinutes: [10, 60] },
    ],
  },
  {
    name: 'no leak: daily load',
    kind: 'none',
    pattern: [noise, { type: 'diurnal', amplitudePct: [3, 10], phaseHours: [0, 24] }],
  },
  {
    name: 'no leak: cache warm-up',
    kind: 'none',
    pattern: [noise, { type: 'warmup', plateauPct: [5, 30], minutes: [60, 600] }],
  },
  {
    name: 'no leak: logarithmic growth',
    kind: 'none',
    pattern: [noise, { type: 'log', pct: [3, 10], tauMinutes: [30, 240] }],
  },
  {
    name: 'no leak: transient spikes',
    kind: 'none',
    pattern: [noise, { type: 'spikes', perHour: [0.2, 2], pct: [5, 30], minutes: [5, 60] }],
  },
];

/** The reference: a continuous broken line by least squares over the 5-minute means. */
function hingeOnset(buckets: readonly MetricBucket[]): { atMs: number } | null {
  const xs = buckets.map((b) => (b.tStartMs - (buckets[0] as MetricBucket).tStartMs) / HOUR);
  const ys = buckets.map((b) => b.sum / b.n);
  const n = xs.length;
  let best: { sse: number; k: number; before: number; after: number } | null = null;
  for (let k = 4; k <= n - 4; k++) {
    const tau = xs[k] as number;
    // Least squares of y = a + b·x + c·max(0, x − τ): the 3×3 normal equations.
    let s1 = 0;
    let sx = 0;
    let sh = 0;
    let sxx = 0;
    let sxh = 0;
    let shh = 0;
    let sy = 0;
    let sxy = 0;
    let shy = 0;
    for (let i = 0; i < n; i++) {
      const x = xs[i] as number;
      const h = Math.max(0, x - tau);
      const y = ys[i] as number;
      s1++;
      sx += x;
      sh += h;
      sxx += x * x;
      sxh += x * h;
      shh += h * h;
      sy += y;
      sxy += x * y;
      shy += h * y;
    }
    const m = [
      [s1, sx, sh, sy],
      [sx, sxx, sxh, sxy],
      [sh, sxh, shh, shy],
    ];
    const sol = solve3(m);
    if (!sol) continue;
    const [a, b, c] = sol;
    let sse = 0;
    for (let i = 0; i < n; i++) {
      const x = xs[i] as number;
      const r = (ys[i] as number) - a - b * x - c * Math.max(0, x - tau);
      sse += r * r;
    }
    if (best === null || sse < best.sse) best = { sse, k, before: b, after: b + c };
  }
  if (best === null || !(best.after > 0) || best.before > 0.25 * best.after) return null;
  return { atMs: (buckets[best.k] as MetricBucket).tStartMs };
}

function solve3(m: number[][]): [number, number, number] | null {
  const a = m.map((r) => [...r]);
  for (let c = 0; c < 3; c++) {
    let p = c;
    for (let r = c + 1; r < 3; r++) {
      if (Math.abs(a[r]?.[c] as number) > Math.abs(a[p]?.[c] as number)) p = r;
    }
    if (Math.abs(a[p]?.[c] as number) < 1e-12) return null;
    [a[c], a[p]] = [a[p] as number[], a[c] as number[]];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = (a[r]?.[c] as number) / (a[c]?.[c] as number);
      for (let k = c; k < 4; k++)
        (a[r] as number[])[k] = (a[r]?.[k] as number) - f * (a[c]?.[k] as number);
    }
  }
  return [0, 1, 2].map((i) => (a[i]?.[3] as number) / (a[i]?.[i] as number)) as [
    number,
    number,
    number,
  ];
}

interface Tally {
  asked: number;
  flagged: number;
  /** flagged with the verdict's test of the growth since an onset switched off */
  flaggedWithout: number;
  found: number;
  errorsMin: number[];
}

function describe(t: Tally, kind: Family['kind']): string {
  if (kind === 'none') return `onset given for ${t.found} of them`;
  if (kind === 'throughout') return `false onsets ${t.found}/${t.flagged} flagged leaks`;
  const abs = t.errorsMin.map(Math.abs);
  const within = (m: number) => abs.filter((e) => e <= m).length;
  return (
    `onset given for ${t.found}/${t.flagged} flagged leaks; error median ${median(abs).toFixed(0)} min, ` +
    `p90 ${quantile(abs, 0.9).toFixed(0)} min; within 30 min ${within(30)}, within 1 h ${within(60)}`
  );
}

function run(seeds: number): void {
  console.log(
    `growth onset: ${seeds} processes per family, 24 h window ending ${SHOWN_MS / HOUR} h after the leak began, 30 s samples`,
  );
  for (const family of FAMILIES) {
    const robust: Tally = { asked: 0, flagged: 0, flaggedWithout: 0, found: 0, errorsMin: [] };
    const reference: Tally = { asked: 0, flagged: 0, flaggedWithout: 0, found: 0, errorsMin: [] };
    for (let seed = 1; seed <= seeds; seed++) {
      const fleet = buildFleet({
        name: 'onset',
        seed,
        start: START,
        durationHours: 40,
        sampleIntervalSec: 30,
        hosts: { count: 1, memTotalKb: 16 * 1024 * 1024 },
        processes: [
          {
            name: 'p',
            baseKb: [200_000, 2_000_000],
            pattern: family.pattern,
            // Processes without a leak start inside the window: warm-ups and the fast start of
            // logarithmic growth are what a level-then-growing test could mistake for a leak.
            startedHoursBefore: family.kind === 'throughout' ? 24 : 0,
          },
        ],
      });
      const inst = fleet.instances[0];
      if (!inst) throw new Error('no instance');
      const h = historyOf(fleet, inst);
      const truth = h.leakShowsMs;
      if (family.kind === 'mid-life' && truth === null) continue;
      const end =
        family.kind === 'mid-life'
          ? (truth as number) + SHOWN_MS
          : START + (family.kind === 'none' ? 20 : 30) * HOUR;
      if (end > fleet.endMs) continue;
      const options = { windowStartMs: end - WINDOW_MS, windowEndMs: end };
      const buckets = (h.buckets[0] ?? []).filter(
        (b) => b.tStartMs >= options.windowStartMs && b.tEndMs <= end,
      );
      const input = { buckets, startedAtMs: inst.incarnations[0]?.startMs ?? null };
      robust.asked++;
      reference.asked++;
      if (scoreIncarnation(input, { ...options, judgeSinceOnset: false }).leak) {
        robust.flaggedWithout++;
      }
      if (!scoreIncarnation(input, options).leak) continue;
      robust.flagged++;
      reference.flagged++;
      const f = floorPoints(input, options);
      const found = f ? growthOnset(f.xs, f.ys, f.firstMs) : null;
      if (found) {
        robust.found++;
        if (truth !== null) robust.errorsMin.push((found.atMs - truth) / 60_000);
      }
      const hinge = hingeOnset(buckets);
      if (hinge) {
        reference.found++;
        if (truth !== null) reference.errorsMin.push((hinge.atMs - truth) / 60_000);
      }
    }
    console.log(
      `\n## ${family.name}: ${robust.asked} processes, ${robust.flagged} flagged leaking ` +
        `(${robust.flaggedWithout} without judging the growth since an onset)`,
    );
    console.log(`  growthOnset (floors, Theil–Sen)  ${describe(robust, family.kind)}`);
    console.log(`  least-squares hinge (5-min means) ${describe(reference, family.kind)}`);
  }
}

run(intArg(process.argv[2], 'SEEDS', 10, 2000, 200));
