import { describe, expect, it } from 'vitest';
import type { Component } from '../sim/scenario.ts';
import { simulate } from '../sim/single.ts';
import { type MetricBucket, mergeIntoHours } from './buckets.ts';
import type { IncarnationInput } from './score.ts';
import {
  growsLogarithmically,
  judgedOnFineBuckets,
  pooledOnFineBuckets,
  SERVICE_LOOKBACK_MS,
  scoreService,
  wantsEarlierIncarnations,
} from './service.ts';

const HOUR = 3_600_000;

/** A linear leak of `pctPerHour`, or nothing at 0: the same service with and without one. */
const linearLeak = (pctPerHour: number): Component[] =>
  pctPerHour > 0 ? [{ type: 'linear', pctPerHour }] : [];

/** Incarnations as storage serves a window over 6 hours: hourly buckets. */
const servedHourly = (incarnations: readonly IncarnationInput[]) =>
  incarnations.map((i) => ({ ...i, buckets: mergeIntoHours(i.buckets) }));

/** Warms up after every start and then holds: no leak however often it restarts. */
const warmingUp: Component[] = [
  { type: 'warmup', plateauPct: 40, minutes: 20 },
  { type: 'noise', pct: 0.5, corrMinutes: 10 },
];

/**
 * A simulated service judged over its last `windowHours` with its incarnations that ended in the
 * day before (as storage serves a window under a day); `served` turns the buckets an incarnation
 * has in the window into what storage hands over (default: as they are, at 5 minutes).
 */
function judgedWithItsDay(
  s: ReturnType<typeof simulate>,
  windowHours: number,
  served: (fine: MetricBucket[]) => Partial<IncarnationInput> = (fine) => ({ buckets: fine }),
) {
  const windowStartMs = s.windowEndMs - windowHours * HOUR;
  const ranIn = (i: IncarnationInput) => i.buckets.some((b) => b.tEndMs > windowStartMs);
  const fromMs = s.windowEndMs - SERVICE_LOOKBACK_MS;
  const inWindow = s.incarnations
    .filter(ranIn)
    .map((i) => ({ ...i, ...served(i.buckets.filter((b) => b.tStartMs >= windowStartMs)) }));
  return scoreService(
    inWindow,
    { windowStartMs, windowEndMs: s.windowEndMs },
    {
      fromMs,
      incarnations: s.incarnations
        .filter((i) => !ranIn(i))
        .map((i) => ({ ...i, buckets: i.buckets.filter((b) => b.tStartMs >= fromMs) })),
    },
  );
}

describe('scoreService', () => {
  it('flags a service whose every incarnation grows until it is restarted', () => {
    // Restarted every ~2.5 h, each incarnation leaks 3 %/h: the latest is too young to judge.
    const s = simulate(
      [
        { type: 'linear', pctPerHour: 3 },
        { type: 'noise', pct: 1, corrMinutes: 10 },
      ],
      10.2,
      4,
      { restart: { everyHours: 2.5, jitter: 0 }, startedHoursBefore: 0 },
    );
    expect(s.incarnations.length).toBeGreaterThanOrEqual(4);
    const v = scoreService(s.incarnations, s);
    expect(v.leak).toBe(true);
    expect(v.judgedIncarnations).toBeGreaterThanOrEqual(3);
    expect(v.pooled?.pValue).toBeLessThan(0.01);
    expect(v.pooled?.pctPerHour).toBeGreaterThan(1);
    // A restart's drop must not count against the growth: each incarnation starts low again.
    expect(v.incarnations.every((i) => i.slopeKbPerHour > 0)).toBe(true);
  });

  it('shows the pooled figures when the pooled test decided', () => {
    // Restarted every 80 minutes at 3 %/h: after the startup grace no incarnation is long enough
    // to be judged alone.
    const s = simulate(
      [
        { type: 'linear', pctPerHour: 3 },
        { type: 'noise', pct: 0.5, corrMinutes: 5 },
      ],
      12,
      2,
      { restart: { everyHours: 4 / 3, jitter: 0 }, startedHoursBefore: 0 },
    );
    const v = scoreService(s.incarnations, s);
    expect(v).toMatchObject({ leak: true, reason: 'every-incarnation-grows', latest: null });
    const newest = v.incarnations[v.incarnations.length - 1];
    expect(newest?.reason).toBe('too-little-data');
    expect(newest?.confidence).toBe(0);
    expect(v.shown?.pctPerHour).toBe(v.pooled?.pctPerHour);
    expect(v.shown?.pctPerHour).toBeGreaterThan(2);
    expect(v.shown?.slopeKbPerHour).toBeCloseTo(
      ((v.pooled?.pctPerHour ?? 0) / 100) * (newest?.currentKb ?? 0),
      6,
    );
    expect(v.shown?.confidence).toBeGreaterThan(0.5);
    expect(v.shown?.pValue).toBe(v.pooled?.pValue);
    // 8 GiB of limit, about 600 MiB used, growing ~3 %/h of that: weeks, not never.
    expect(v.shown?.timeToLimitHours).toBeGreaterThan(24);
    expect(v.shown?.timeToLimitHours).toBeLessThan(24 * 30);
  });

  it('asks the newest incarnation to keep growing only once it has shown two hours', () => {
    // Restarted every 3.5 hours; every incarnation leaked 3 %/h until the newest, which holds
    // (the leak fixed, or a pause in it). Seeds whose newest incarnation's floors fell.
    const restart = { restart: { everyHours: 3.5, jitter: 0 }, startedHoursBefore: 0 };
    const noise: Component = { type: 'noise', pct: 1, corrMinutes: 10 };
    const service = (hours: number, seed: number) => {
      const leaking = simulate([{ type: 'linear', pctPerHour: 3 }, noise], hours, seed, restart);
      const holding = simulate([noise], hours, seed + 100, restart);
      const newest = holding.incarnations[holding.incarnations.length - 1];
      if (!newest) throw new Error('no incarnation');
      return scoreService([...leaking.incarnations.slice(0, -1), newest], leaking);
    };
    for (const seed of [1, 6]) {
      // An hour and a half old (an hour past its startup grace): its fall is no news yet.
      const young = service(12, seed);
      expect(young.incarnations.map((i) => i.reason)).toEqual([
        'leak',
        'leak',
        'leak',
        'no-significant-trend',
      ]);
      expect(young.incarnations[3]?.slopeKbPerHour).toBeLessThan(0);
      expect(young).toMatchObject({ leak: true, reason: 'every-incarnation-grows' });
    }
    for (const seed of [1, 3, 4, 6]) {
      // Three hours old and still not growing: the service no longer leaks.
      const held = service(13.5, seed);
      expect(held.incarnations[3]?.slopeKbPerHour).toBeLessThan(0);
      expect(held).toMatchObject({ leak: false, reason: 'not-leaking' });
    }
  });

  it('does not flag a service that warms up after each restart and then holds', () => {
    for (const seed of [1, 2, 3]) {
      const s = simulate(warmingUp, 24, seed, {
        restart: { everyHours: 4 },
        startedHoursBefore: 0,
      });
      const v = scoreService(s.incarnations, s);
      expect(v.leak).toBe(false);
    }
  });

  it('does not flag a service whose every incarnation creeps by a percent or two', () => {
    // 0.35 %/h over incarnations of about 4 hours: 1.4 % each, the tail of a warm-up.
    for (const seed of [1, 2, 3]) {
      const s = simulate(
        [
          { type: 'linear', pctPerHour: 0.35 },
          { type: 'noise', pct: 0.1, corrMinutes: 5 },
        ],
        24,
        seed,
        { restart: { everyHours: 4, jitter: 0 }, startedHoursBefore: 0 },
      );
      const v = scoreService(s.incarnations, s);
      expect(v.pooled?.pValue).toBeLessThan(0.01);
      expect(v.leak).toBe(false);
    }
  });

  it('pools the incarnations of the day before a short window for a service restarted within it', () => {
    // Restarted every ~3 hours, 2 %/h in each incarnation, noise of 1.5 % wandering over 20
    // minutes: a 6-hour window holds three incarnations, the newest too young to judge.
    const leaking = [
      { type: 'linear', pctPerHour: 2 },
      { type: 'noise', pct: 1.5, corrMinutes: 20 },
    ] as const;
    const window = (seed: number, pattern: readonly Component[]) => {
      const s = simulate([...pattern], 24, seed, {
        restart: { everyHours: 3 },
        startedHoursBefore: 0,
      });
      const options = { windowStartMs: s.windowEndMs - 6 * HOUR, windowEndMs: s.windowEndMs };
      const ranIn = (i: IncarnationInput) =>
        i.buckets.some((b) => b.tEndMs > options.windowStartMs);
      const within = s.incarnations.filter(ranIn);
      const earlier = {
        fromMs: s.windowEndMs - SERVICE_LOOKBACK_MS,
        incarnations: s.incarnations.filter((i) => !ranIn(i)),
      };
      expect(wantsEarlierIncarnations(6 * HOUR, within.length)).toBe(true);
      return {
        alone: scoreService(within, options),
        pooled: scoreService(within, options, earlier),
      };
    };
    // Seed 1: the window's three incarnations pooled reach p ≈ 0.04 only.
    const one = window(1, leaking);
    expect(one.alone.leak).toBe(false);
    expect(one.pooled).toMatchObject({ leak: true, reason: 'every-incarnation-grows' });
    expect(one.pooled.pooledIncarnations).toBeGreaterThan(one.alone.pooledIncarnations);
    expect(one.pooled.pooled?.pValue).toBeLessThan(1e-4);
    for (const seed of [2, 3, 4, 5, 6]) expect(window(seed, leaking).pooled.leak).toBe(true);
    // It adds no false alarm to a service that warms up after each restart and then holds.
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const w = window(seed, [
        { type: 'warmup', plateauPct: 40, minutes: 20 },
        { type: 'noise', pct: 1, corrMinutes: 15 },
      ]);
      expect(w.pooled.leak).toBe(w.alone.leak);
    }
    // Windows of a day or more, and services not restarted within the window, get none.
    expect(wantsEarlierIncarnations(SERVICE_LOOKBACK_MS, 3)).toBe(false);
    expect(wantsEarlierIncarnations(6 * HOUR, 1)).toBe(false);
  });

  it('flags a bursty leak whose restarts often come after a quiet stretch', () => {
    // Bursts of about an hour every ~3.3 hours, a service restarted every ~3 hours, judged over
    // 36 hours on hourly floors as storage serves such a window: 3 of its 7 incarnations end on
    // growth, the others after a quiet stretch, yet the pooled growth is plain (p ≈ 0.004).
    const bursty: Component[] = [
      { type: 'bursty', pctPerHour: 6, burstMinutes: 58, everyHours: 3.3 },
      { type: 'noise', pct: 1.3, corrMinutes: 18 },
    ];
    const s = simulate(bursty, 36, 41, { restart: { everyHours: 3 }, startedHoursBefore: 0 });
    const v = scoreService(servedHourly(s.incarnations), s);
    expect(v.pooledIncarnations).toBe(7);
    expect(v.growingIncarnations).toBe(3);
    expect(v.pooled?.pValue).toBeLessThan(0.01);
    expect(v).toMatchObject({ leak: true, reason: 'every-incarnation-grows' });
    // A service that warms up after each of its restarts, on the same floors, is not a leak.
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const warm = simulate(warmingUp, 36, seed, {
        restart: { everyHours: 3 },
        startedHoursBefore: 0,
      });
      const w = scoreService(servedHourly(warm.incarnations), warm);
      expect(w.leak).toBe(false);
    }
  });

  /** A service on a daily load of ±15 %, restarted every `everyHours`, over a day served hourly. */
  function dailyLoadRestarted(phaseHours: number, everyHours: number, leakPctPerHour: number) {
    const s = simulate(
      [
        { type: 'diurnal', amplitudePct: 15, periodHours: 24, phaseHours },
        { type: 'noise', pct: 0.5, corrMinutes: 10 },
        ...linearLeak(leakPctPerHour),
      ],
      24,
      1,
      { restart: { everyHours, jitter: 0 }, startedHoursBefore: 0 },
    );
    return scoreService(servedHourly(s.incarnations), s);
  }

  it('does not let one ramp of a daily load decide when another incarnation fell', () => {
    // Restarts every 7-8 hours show one incarnation the load's ramp (significant growth of its
    // own) and another its downswing: the service follows the load both ways.
    for (const [phase, every] of [
      [2, 7],
      [8, 7],
      [0, 8],
      [6, 8],
    ] as const) {
      const v = dailyLoadRestarted(phase, every, 0);
      expect(v.latest?.leak).toBe(true);
      expect(v.incarnations.some((i) => i.reason === 'shrinking')).toBe(true);
      expect(v.leak).toBe(false);
    }
  });

  it('tells a leak from a daily load better across restart cadences and phases', () => {
    // Loads of ±10–25 %, restarts every 6–9 hours (10 % jitter), every third hour of phase: the
    // ramp one incarnation sees rises as fast as a leak. Letting it decide alone flagged 34 of the
    // 96 services that do not leak; the leaks of 4 %/h are flagged about as often as before.
    let falseAlarms = 0;
    let found = 0;
    for (const amplitudePct of [10, 15, 25]) {
      for (const everyHours of [6, 7, 8, 9]) {
        for (let phaseHours = 0; phaseHours < 24; phaseHours += 3) {
          for (const leakPctPerHour of [0, 4]) {
            const s = simulate(
              [
                { type: 'diurnal', amplitudePct, periodHours: 24, phaseHours },
                { type: 'noise', pct: 0.5, corrMinutes: 10 },
                ...linearLeak(leakPctPerHour),
              ],
              24,
              1,
              { restart: { everyHours, jitter: 0.1 }, startedHoursBefore: 0 },
            );
            const v = scoreService(servedHourly(s.incarnations), s);
            if (v.leak && leakPctPerHour === 0) falseAlarms++;
            if (v.leak && leakPctPerHour > 0) found++;
          }
        }
      }
    }
    expect(falseAlarms).toBeLessThanOrEqual(26);
    expect(found).toBeGreaterThanOrEqual(78);
  });

  /**
   * Web services on a daily load of ±10 and ±18 %, with a GC saw-tooth, restarted every 3, 4 and
   * 5 hours from the start of `hours` of history, at every third hour of the load's phase, with
   * and without a leak of 4 %/h: how many `judge` flags of each.
   */
  function restartedWebServices(hours: number, judge: (s: ReturnType<typeof simulate>) => boolean) {
    let falseAlarms = 0;
    let found = 0;
    for (const amplitudePct of [10, 18]) {
      for (const everyHours of [3, 4, 5]) {
        for (let phaseHours = 0; phaseHours < 24; phaseHours += 3) {
          for (const leakPctPerHour of [0, 4]) {
            const s = simulate(
              [
                { type: 'diurnal', amplitudePct, periodHours: 24, phaseHours },
                { type: 'sawtooth', amplitudePct: 10, periodMinutes: 2 },
                { type: 'noise', pct: 0.5, corrMinutes: 20 },
                ...linearLeak(leakPctPerHour),
              ],
              hours,
              1,
              { restart: { everyHours, jitter: 0.1 }, startedHoursBefore: 0 },
            );
            if (!judge(s)) continue;
            if (leakPctPerHour === 0) falseAlarms++;
            else found++;
          }
        }
      }
    }
    return { falseAlarms, found };
  }

  it("does not let a short window's morning ramp decide when the day's earlier incarnations fell", () => {
    // A web service on a daily load of ±10–18 %, restarted every 3–5 hours, judged over the last
    // 6 hours of a 30-hour history at every third hour of phase: on the ramp, each incarnation
    // in the window rises on its own. The incarnations of the day before, which fell on the
    // downswing, stopped 11 of the 48 services that do not leak being flagged only when they
    // counted; the leaks of 4 %/h are found as before.
    const { falseAlarms, found } = restartedWebServices(30, (s) => judgedWithItsDay(s, 6).leak);
    expect(falseAlarms).toBeLessThanOrEqual(1);
    expect(found).toBeGreaterThanOrEqual(42);
  });

  it('pools a daily-load service restarted within an 8 or 12-hour window on 5-minute floors', () => {
    // The same web services over the last 8 or 12 hours of a 36-hour history, served hourly as
    // storage serves such windows, with the day's earlier incarnations at 5 minutes. On hourly
    // floors the window's incarnations weighed next to nothing in the pooled test: services that
    // do not leak were flagged on the earlier ones' ramp (8 of 48 over 12 hours), and leaks whose
    // newest incarnation met the downswing were missed (20 of 96 over both windows).
    let falseAlarms = 0;
    let found = 0;
    for (const windowHours of [8, 12]) {
      const counted = restartedWebServices(
        36,
        (s) =>
          judgedWithItsDay(s, windowHours, (fine) => ({
            buckets: mergeIntoHours(fine),
            pooledBuckets: fine,
          })).leak,
      );
      falseAlarms += counted.falseAlarms;
      found += counted.found;
    }
    expect(falseAlarms).toBeLessThanOrEqual(2);
    expect(found).toBeGreaterThanOrEqual(94);
  });

  it('does not say a restarted service pools on 5-minute floors unless it is served hourly', () => {
    expect(pooledOnFineBuckets(8 * HOUR, true, 3)).toBe(true);
    expect(pooledOnFineBuckets(8 * HOUR, false, 3)).toBe(false);
    expect(pooledOnFineBuckets(8 * HOUR, true, 1)).toBe(false);
    expect(pooledOnFineBuckets(24 * HOUR, true, 3)).toBe(false);
  });

  it('does not flag an index rebuilt at every restart, and flags one that leaks beside it', () => {
    // Indexes that grow with the logarithm of their age (1.5–3.5 % per e-fold), restarted every
    // 7–11 hours (10 % jitter), judged over a day and a half on hourly floors as storage serves
    // such a window. A few hours in, every incarnation still rises 0.5–1 %/h: the newest
    // incarnation's test or the pooled test called 26 of the 36 that do not leak a leak, 7 once
    // the incarnations' steady rates count (those left are restarted every 7 hours: six hourly
    // floors per incarnation leave the fit four). Beside a leak of 1.5 %/h the steady rate is the
    // leak's: all 36 are found either way.
    let falseAlarms = 0;
    let found = 0;
    let withoutLeak = 0;
    for (const pct of [1.5, 2.5, 3.5]) {
      for (const tauMinutes of [3, 8]) {
        for (const everyHours of [7, 9, 11]) {
          for (const seed of [1, 2]) {
            for (const leakPctPerHour of [0, 1.5]) {
              const s = simulate(
                [
                  { type: 'log', pct, tauMinutes },
                  { type: 'noise', pct: 0.5, corrMinutes: 10 },
                  ...linearLeak(leakPctPerHour),
                ],
                36,
                seed,
                { restart: { everyHours, jitter: 0.1 }, startedHoursBefore: 0 },
              );
              const v = scoreService(servedHourly(s.incarnations), s);
              if (leakPctPerHour === 0) {
                withoutLeak++;
                if (v.leak) falseAlarms++;
                else if (v.reason === 'grows-logarithmically') {
                  expect(v.shown).toMatchObject({ leak: false, reason: 'levelled-off' });
                  expect(v.shown?.timeToLimitHours).toBeNull();
                }
              } else if (v.leak) found++;
            }
          }
        }
      }
    }
    expect(withoutLeak).toBe(36);
    expect(falseAlarms).toBeLessThanOrEqual(8);
    expect(found).toBe(36);
  });

  it('flags a leak that began with the newest incarnation after flat ones', () => {
    // A deploy: two flat incarnations, then one that leaks 2 %/h. Flat is not a fall.
    const flat = simulate([{ type: 'noise', pct: 1, corrMinutes: 10 }], 24, 3, {
      restart: { everyHours: 8, jitter: 0 },
      startedHoursBefore: 0,
    });
    const leaking = simulate(
      [
        { type: 'noise', pct: 1, corrMinutes: 10 },
        { type: 'linear', pctPerHour: 2 },
      ],
      24,
      3,
      { restart: { everyHours: 8, jitter: 0 }, startedHoursBefore: 0 },
    );
    const incarnations = servedHourly([
      ...flat.incarnations.slice(0, -1),
      leaking.incarnations[leaking.incarnations.length - 1] as IncarnationInput,
    ]);
    const v = scoreService(incarnations, flat);
    expect(v.incarnations.some((i) => i.reason === 'shrinking')).toBe(false);
    expect(v).toMatchObject({ leak: true, reason: 'latest-incarnation-leaks' });
  });

  it('does not flag a flat service that is restarted often', () => {
    const s = simulate([{ type: 'noise', pct: 1, corrMinutes: 10 }], 24, 7, {
      restart: { everyHours: 3 },
    });
    expect(scoreService(s.incarnations, s)).toMatchObject({ leak: false, reason: 'not-leaking' });
  });

  it('shows a process still in its startup grace without judging it', () => {
    // Started 20 minutes ago: everything it has shown lies in the 30-minute startup grace.
    const s = simulate([{ type: 'noise', pct: 1 }], 20 / 60, 7, { startedHoursBefore: 0 });
    const v = scoreService(s.incarnations, s);
    expect(v).toMatchObject({ leak: false, reason: 'too-little-data', latest: null });
    expect(v.incarnations).toEqual([]);
    expect(v.shown).toMatchObject({ reason: 'starting-up', leak: false, confidence: 0 });
    expect(v.shown?.currentKb).toBeGreaterThan(0);
  });

  it('says when nothing could be judged', () => {
    const s = simulate([{ type: 'noise', pct: 1 }], 0.5, 7);
    expect(scoreService(s.incarnations, s)).toMatchObject({
      leak: false,
      reason: 'too-little-data',
    });
  });
});

describe('judgedOnFineBuckets', () => {
  const H = 3_600_000;
  const end = 100 * H;

  it('takes a service whose every incarnation was first seen inside the window in its last 12 hours', () => {
    // A new service restarted twice, in a day's window.
    expect(judgedOnFineBuckets([end - 11 * H, end - 7 * H, end - 3 * H], end - 24 * H, end)).toBe(
      true,
    );
    // One incarnation seen earlier than that: the service has history, the window's resolution.
    expect(judgedOnFineBuckets([end - 13 * H, end - 3 * H], end - 24 * H, end)).toBe(false);
  });

  it('does not take a service whose first incarnation in the window began before it', () => {
    // An 8-hour window: the incarnation seen 9 hours ago ran before the window, whose start
    // says nothing of its history.
    expect(judgedOnFineBuckets([end - 9 * H, end - 4 * H], end - 8 * H, end)).toBe(false);
    expect(judgedOnFineBuckets([end - 7 * H, end - 4 * H], end - 8 * H, end)).toBe(true);
    expect(judgedOnFineBuckets([], end - 8 * H, end)).toBe(false);
  });
});

describe('growsLogarithmically', () => {
  const fit = (ratePct: number, ratePctSe = 0.2, perLogAgePct = 3) => ({
    ratePct,
    ratePctSe,
    perLogAgePct,
  });

  it('takes steady rates near zero, with confidence, for a logarithm', () => {
    expect(growsLogarithmically([fit(-0.3), fit(-0.2), fit(0.1), fit(-0.3)], 0.5)).toBe(true);
    // One incarnation is no pattern.
    expect(growsLogarithmically([fit(0)], 0.5)).toBe(false);
  });

  it('does not take a leak, nor rates scattered as a bursty leak scatters them', () => {
    expect(growsLogarithmically([fit(2.2), fit(2.4), fit(2.6)], 0.5)).toBe(false);
    expect(growsLogarithmically([fit(-2.4), fit(1.1), fit(-1.1), fit(4)], 0.5)).toBe(false);
  });

  it("does not take steady rates well below zero: a warm-up's tail read as a logarithm", () => {
    // A cache that fills 80 % in 20 minutes and leaks 1.5 %/h, restarted every 3–5 hours: its
    // fits fell to −1.9 and −1.7 %/h, well off a logarithm's 0, and its leak was vetoed at times.
    expect(growsLogarithmically([fit(-1.92, 1.08, 2.2), fit(-1.65, 0.73, 2)], 0.5)).toBe(false);
  });
});
