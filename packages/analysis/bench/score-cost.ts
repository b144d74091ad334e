/**
 * Cost of scoring one process as the server does on a 24 h ranking: one incarnation, 24 hourly
 * buckets. Prints µs per `scoreService` call.
 * Usage: node packages/analysis/bench/score-cost.ts
 */
import { simulate } from '../sim/single.ts';
import { mergeIntoHours } from '../src/buckets.ts';
import { scoreService } from '../src/service.ts';

const patterns = [
  [{ type: 'noise' as const, pct: 2, corrMinutes: 10 }],
  [
    { type: 'linear' as const, pctPerHour: 1 },
    { type: 'noise' as const, pct: 1, corrMinutes: 10 },
  ],
  [
    { type: 'sawtooth' as const, amplitudePct: 20, periodMinutes: 3 },
    { type: 'diurnal' as const, amplitudePct: 10 },
  ],
];

const cases = patterns.flatMap((p, i) =>
  [1, 2, 3].map((seed) => {
    const s = simulate(p, 24, seed + 10 * i);
    const inc = s.incarnations[0];
    if (!inc) throw new Error('no incarnation');
    return {
      incarnations: [{ ...inc, buckets: mergeIntoHours(inc.buckets) }],
      options: { windowStartMs: s.windowStartMs, windowEndMs: s.windowEndMs },
    };
  }),
);

const perRound = 20_000;
const rounds: number[] = [];
let sink = 0;
for (let r = 0; r < 15; r++) {
  const t0 = performance.now();
  for (let i = 0; i < perRound; i++) {
    const c = cases[i % cases.length] as (typeof cases)[number];
    if (scoreService(c.incarnations, c.options).leak) sink++;
  }
  rounds.push(((performance.now() - t0) * 1000) / perRound);
}
rounds.sort((a, b) => a - b);
// On a shared machine the fastest round is the least disturbed one; the median shows the spread.
console.log(
  `scoreService, one incarnation, 24 hourly buckets: ${rounds[0]?.toFixed(1)} µs per process fastest, ${rounds[7]?.toFixed(1)} µs median (15 rounds of ${perRound}; ${sink} leaking calls)`,
);
