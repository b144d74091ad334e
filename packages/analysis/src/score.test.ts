import { describe, expect, it } from 'vitest';
import type { Component, ProcessSpec } from '../sim/scenario.ts';
import { simulate } from '../sim/single.ts';
import { HOUR_MS, mergeBuckets, mergeIntoHours } from './buckets.ts';
import { growthByAge, type IncarnationInput, scoreIncarnation } from './score.ts';

const HOUR = 3_600_000;

function verdict(pattern: Component[], hours: number, seed = 1, extra: Partial<ProcessSpec> = {}) {
  const s = simulate(pattern, hours, seed, extra);
  const inc = s.incarnations[s.incarnations.length - 1] as IncarnationInput;
  return { ...scoreIncarnation(inc, s), baseKb: s.baseKb };
}

const noise = (pct: number, corrMinutes = 10): Component => ({ type: 'noise', pct, corrMinutes });

/** One simulated incarnation judged on hourly buckets merged from its 5-minute ones, as storage serves long windows. */
function scoreHourly(pattern: Component[], hours: number, seed: number) {
  const s = simulate(pattern, hours, seed);
  const inc = s.incarnations[0] as IncarnationInput;
  const byHour = new Map<number, typeof inc.buckets>();
  for (const b of inc.buckets) {
    const h = b.tStartMs - (b.tStartMs % HOUR_MS);
    byHour.set(h, [...(byHour.get(h) ?? []), b]);
  }
  const buckets = [...byHour.entries()].map(([h, g]) =>
    mergeBuckets(g, { tStartMs: h, tEndMs: h + HOUR_MS }),
  );
  expect(buckets).toHaveLength(hours);
  return scoreIncarnation({ ...inc, buckets }, s);
}

describe('scoreIncarnation', () => {
  it('flags a 2 %/h leak within 2 hours of data and measures its slope', () => {
    const v = verdict([{ type: 'linear', pctPerHour: 2 }, noise(0.5)], 2);
    expect(v.leak).toBe(true);
    expect(v.reason).toBe('leak');
    // 2 % of the base per hour; the process is a day old, so a bit less of its current size.
    // Two hours of noisy data pin the slope down to about a third.
    expect(v.slopeKbPerHour).toBeGreaterThan(0.65 * 0.02 * v.baseKb);
    expect(v.slopeKbPerHour).toBeLessThan(1.35 * 0.02 * v.baseKb);
    expect(v.pctPerHour).toBeGreaterThan(1.2);
    expect(v.confidence).toBeGreaterThan(0.2);
    expect(v.timeToLimitHours).toBeGreaterThan(0);
  });

  it('states the growth over the whole observation, alike on 5-minute and hourly floors', () => {
    // 2 %/h of the base, linear, without noise: 6 hours grow about 12 % of the base.
    const pattern: Component[] = [{ type: 'linear', pctPerHour: 2 }];
    const fine = verdict(pattern, 6);
    const hourly = scoreHourly(pattern, 6, 1);
    const expected = (slope: number, spanMs: number) => (slope * spanMs) / HOUR;
    expect(fine.growthKb / expected(fine.slopeKbPerHour, fine.spanMs)).toBeCloseTo(1, 1);
    expect(hourly.growthKb / expected(hourly.slopeKbPerHour, hourly.spanMs)).toBeCloseTo(1, 1);
    // The hourly floors used to show 5 of the 6 hours' growth.
    expect(hourly.growthKb / fine.growthKb).toBeGreaterThan(0.95);
    expect(hourly.growthKb / fine.growthKb).toBeLessThan(1.05);
  });

  it('keeps flat noisy processes quiet at the stated 1 % rate across many seeds', () => {
    let alarms = 0;
    for (let seed = 0; seed < 200; seed++) {
      if (verdict([noise(2, 5)], 6, seed).leak) alarms++;
    }
    expect(alarms / 200).toBeLessThanOrEqual(0.01);
  });

  it('keeps the false-alarm rate low even when the noise wanders for half an hour at a time', () => {
    // 10-minute floors of noise correlated over 30 minutes have lag-1 correlation ~0.7; with
    // 36 points the correction cannot fully recover the 1 % level (measured ~3 %), but it stays
    // far below the uncorrected test's.
    let alarms = 0;
    for (let seed = 0; seed < 150; seed++) {
      if (verdict([noise(2, 30)], 6, seed).leak) alarms++;
    }
    expect(alarms / 150).toBeLessThanOrEqual(0.04);
  });

  it('judges a garbage-collected heap by its floor, not its peaks', () => {
    const gc: Component = { type: 'sawtooth', amplitudePct: 30, periodMinutes: 3 };
    const flat = verdict([gc, noise(0.5)], 6);
    expect(flat.leak).toBe(false);
    const leaking = verdict([gc, noise(0.5), { type: 'linear', pctPerHour: 1 }], 6);
    expect(leaking.leak).toBe(true);
    expect(leaking.slopeKbPerHour).toBeGreaterThan(0.8 * 0.01 * leaking.baseKb);
    expect(leaking.slopeKbPerHour).toBeLessThan(1.2 * 0.01 * leaking.baseKb);
  });

  it('calls slow growth a leak once it adds up to a few percent, not while it is drift', () => {
    // 0.35 %/h is above the minimum rate, but 8 hours of it (2.8 %) are within what memory
    // wanders; a day of it (8.4 %) is not.
    for (let seed = 0; seed < 5; seed++) {
      const slow: Component[] = [{ type: 'linear', pctPerHour: 0.35 }, noise(0.2, 5)];
      const short = verdict(slow, 8, seed);
      expect(short.leak).toBe(false);
      expect(short.reason).toBe('too-slow');
      expect(verdict(slow, 24, seed).leak).toBe(true);
    }
  });

  it('keeps noise that wanders for an hour at a time quiet over half a day', () => {
    // Floors of noise correlated over 45–55 minutes drift by a few tenths of a percent an hour
    // for hours; without the minimum growth 7 of these 600 were flagged.
    let alarms = 0;
    for (let seed = 0; seed < 300; seed++) {
      if (verdict([noise(1.7, 55)], 12, seed).leak) alarms++;
      if (verdict([noise(1.5, 45)], 12, seed).leak) alarms++;
    }
    expect(alarms).toBeLessThanOrEqual(1);
  });

  it('does not call a cache that warmed up and levelled off a leak', () => {
    const v = verdict([{ type: 'warmup', plateauPct: 60, minutes: 90 }, noise(0.5)], 8, 3, {
      startedHoursBefore: 0,
    });
    expect(v.leak).toBe(false);
    expect(['levelled-off', 'no-significant-trend', 'too-slow']).toContain(v.reason);
  });

  it('still flags a leak that runs on after a warm-up', () => {
    const v = verdict(
      [
        { type: 'warmup', plateauPct: 60, minutes: 90 },
        noise(0.5),
        { type: 'linear', pctPerHour: 1.5 },
      ],
      12,
      3,
      { startedHoursBefore: 0 },
    );
    expect(v.leak).toBe(true);
  });

  it('flags step-wise growth', () => {
    expect(verdict([{ type: 'step', stepPct: 4, everyHours: 1 }, noise(0.5)], 12).leak).toBe(true);
  });

  it('flags growth in bursts with long flat stretches between them, which the trend test ranks weakly', () => {
    // Hourly floors (MiB) over 36 h: flat within ±7 MiB for 19 hours, five hours of bursts,
    // flat again 16 % higher. The rank test puts it at p ≈ 0.13, but the process never came
    // back down: its last quarter lies wholly above its first.
    const mib = [
      546, 540, 545, 546, 546, 545, 541, 534, 543, 534, 541, 533, 546, 533, 545, 545, 534, 539, 534,
      555, 564, 583, 596, 614, 629, 629, 631, 623, 629, 626, 625, 620, 626, 625, 619, 622,
    ];
    const v = scoreIncarnation(
      { buckets: hourlyFloors(mib.map((m) => m * 1024)) },
      { windowStartMs: 0, windowEndMs: 36 * HOUR },
    );
    expect(v.pValue).toBeGreaterThan(0.1);
    expect(v).toMatchObject({ leak: true, reason: 'leak' });
  });

  it('does not take a daily cycle seen for a day and a half for growth above its start', () => {
    for (const phase of [0, 6, 12, 18]) {
      const kb = Array.from(
        { length: 36 },
        (_, h) => 900_000 * (1 + 0.15 * Math.sin((2 * Math.PI * (h + phase)) / 24)) + (h % 3) * 500,
      );
      const v = scoreIncarnation(
        { buckets: hourlyFloors(kb) },
        { windowStartMs: 0, windowEndMs: 36 * HOUR },
      );
      expect(v.leak).toBe(false);
    }
  });

  it('does not flag a daily load cycle that returns to its level', () => {
    for (const seed of [1, 2, 3, 4]) {
      expect(verdict([{ type: 'diurnal', amplitudePct: 15 }, noise(0.5)], 48, seed).leak).toBe(
        false,
      );
    }
  });

  it('finds a leak that a daily cycle of like size hides, from its growth day over day in a long window', () => {
    // 0.8 %/h on a daily load of ±18 % with a saw-tooth and noise wandering for 25 minutes, over
    // windows of 36 and 48 hours on hourly buckets, at every fourth hour of phase: the trend test
    // read the cycle as persistence and found 1 of these 24; every floor stands above the one a
    // day earlier. The same load without the leak, and logarithmic growth (an index filling)
    // started 0–6 hours before, stay quiet.
    const load = (phaseHours: number): Component[] => [
      { type: 'diurnal', amplitudePct: 18, periodHours: 24, phaseHours },
      { type: 'sawtooth', amplitudePct: 8, periodMinutes: 3 },
      noise(1.8, 25),
    ];
    let found = 0;
    let falseAlarms = 0;
    const rates: number[] = [];
    for (const hours of [36, 48]) {
      for (let phaseHours = 0; phaseHours < 24; phaseHours += 4) {
        for (const seed of [1, 2]) {
          const leaking = [...load(phaseHours), { type: 'linear', pctPerHour: 0.8 } as const];
          const v = scoreHourly(leaking, hours, seed);
          if (v.leak) {
            found++;
            // Shown at the day's rate, not the window's slope the cycle tilts (0.3–0.7 %/h
            // by phase), with a confidence the cycle does not zero.
            rates.push(v.pctPerHour);
            expect(v.confidence).toBeGreaterThan(0.2);
            expect(v.timeToLimitHours).toBeGreaterThan(0);
          }
          if (scoreHourly(load(phaseHours), hours, seed).leak) falseAlarms++;
        }
        for (const startedHoursBefore of [0, 3, 6]) {
          const s = simulate(
            [{ type: 'log', pct: 4, tauMinutes: 5 }, noise(0.4)],
            hours,
            phaseHours,
            { startedHoursBefore },
          );
          const inc = s.incarnations[s.incarnations.length - 1] as IncarnationInput;
          const v = scoreIncarnation({ ...inc, buckets: mergeIntoHours(inc.buckets) }, s);
          if (v.leak) falseAlarms++;
        }
      }
    }
    expect(found).toBeGreaterThanOrEqual(22);
    expect(falseAlarms).toBe(0);
    expect(Math.max(...rates) - Math.min(...rates)).toBeLessThan(0.25);
  });

  it('does not take a pause in bursty growth for a plateau once growth has started again', () => {
    // Two bursts over the first 9 hours, 11 hours level, then growth again in the last 3: the
    // middle and last thirds' medians alike read as levelled off; the newest floor, a new high
    // well above the first two thirds, says the growth goes on.
    const level = (h: number) =>
      h < 9 ? 1_000_000 + h * 55_000 : h < 21 ? 1_495_000 : 1_495_000 + (h - 20) * 80_000;
    const kb = Array.from({ length: 24 }, (_, h) => level(h) + ((h * 7) % 5) * 1500);
    const v = scoreIncarnation(
      { buckets: hourlyFloors(kb) },
      { windowStartMs: 0, windowEndMs: 24 * HOUR },
    );
    expect(v).toMatchObject({ leak: true, reason: 'leak' });
    // Without the renewed growth it stays a plateau.
    const held = kb.map((v, h) => (h >= 21 ? (kb[20] as number) : v));
    expect(
      scoreIncarnation(
        { buckets: hourlyFloors(held) },
        { windowStartMs: 0, windowEndMs: 24 * HOUR },
      ),
    ).toMatchObject({ leak: false, reason: 'levelled-off' });
  });

  it('does not judge less than the minimum span, and reports the shown data', () => {
    const v = verdict([{ type: 'linear', pctPerHour: 5 }], 0.75);
    expect(v.leak).toBe(false);
    expect(v.reason).toBe('too-little-data');
    expect(v.currentKb).toBeGreaterThan(0);
  });

  it('gives time to limit from the limit and the slope, null when not growing', () => {
    const s = simulate([{ type: 'linear', pctPerHour: 3 }, noise(0.2)], 4, 5);
    const inc = s.incarnations[0] as IncarnationInput;
    const v = scoreIncarnation({ ...inc, limitKb: 2_000_000 }, s);
    expect(v.timeToLimitHours).toBeCloseTo((2_000_000 - v.currentKb) / v.slopeKbPerHour, 6);
    // The score says what it measured against, so a reader can tell a cgroup limit from MemTotal.
    expect(v.limitKb).toBe(2_000_000);
    const flat = scoreIncarnation({ ...verdictInput([noise(0.2)], 4), limitKb: 2_000_000 }, s);
    expect(flat.timeToLimitHours).toBeNull();
    expect(scoreIncarnation({ ...inc, limitKb: null }, s).timeToLimitHours).toBeNull();
  });

  it('judges the hourly buckets storage serves for long windows like the 5-minute ones', () => {
    const hourly = (pattern: Component[]) => scoreHourly(pattern, 24, 11);
    const gc: Component = { type: 'sawtooth', amplitudePct: 25, periodMinutes: 4 };
    expect(hourly([gc, noise(1), { type: 'linear', pctPerHour: 0.8 }]).leak).toBe(true);
    expect(hourly([gc, noise(1)]).leak).toBe(false);
  });

  it('judges a window just over 6 hours (seven hourly floors) on the exact tail of the test', () => {
    // A 2 %/h leak under noise that swaps a pair of hourly floors now and then: under the normal
    // approximation one swapped pair of seven floors is p = 0.013, and the leak went unflagged on
    // 4 of 20 seeds; the exact tail of that pair is 0.0054.
    const hourlyVerdict = (pattern: Component[], seed: number) => scoreHourly(pattern, 7, seed);
    let found = 0;
    let falseAlarms = 0;
    for (let seed = 1; seed <= 20; seed++) {
      if (hourlyVerdict([{ type: 'linear', pctPerHour: 2 }, noise(1.5, 15)], seed).leak) found++;
      if (hourlyVerdict([noise(1.5, 15)], seed).leak) falseAlarms++;
    }
    expect(found).toBe(20);
    expect(falseAlarms).toBe(0);
  });

  it('gives no verdict without data in the window', () => {
    const v = scoreIncarnation({ buckets: [] }, { windowStartMs: 0, windowEndMs: HOUR });
    expect(v).toMatchObject({ leak: false, reason: 'no-data', confidence: 0 });
  });
});

function verdictInput(pattern: Component[], hours: number): IncarnationInput {
  return simulate(pattern, hours, 9).incarnations[0] as IncarnationInput;
}

describe('a verdict kept while its evidence only weakens', () => {
  const QUARTER = 15 * 60_000;
  const NO_HOLD = { holdLagsMs: [] };

  /** The verdicts of one simulated process every quarter-hour from its first hour to its end. */
  function overTime(pattern: Component[], seed: number, options: { holdLagsMs?: number[] } = {}) {
    const s = simulate(pattern, 6, seed);
    const inc = s.incarnations[s.incarnations.length - 1] as IncarnationInput;
    const series: boolean[] = [];
    for (let t = s.windowStartMs + HOUR; t <= s.windowEndMs; t += QUARTER) {
      const at = { ...inc, buckets: inc.buckets.filter((b) => b.tEndMs <= t) };
      series.push(scoreIncarnation(at, { ...s, windowEndMs: t, ...options }).leak);
    }
    return series;
  }

  it('keeps a 2 %/h leak flagged from its second hour instead of flickering', () => {
    // Without the hold (measured): the verdict dropped 62 times over 60 seeds and stayed from
    // 2 hours on for 10 of them; with it, 20 drops and 24 seeds.
    const pattern: Component[] = [{ type: 'linear', pctPerHour: 2 }, noise(1, 20)];
    let drops = 0;
    let keptFrom2h = 0;
    for (let seed = 0; seed < 60; seed++) {
      const series = overTime(pattern, seed);
      for (let i = 1; i < series.length; i++) if (series[i - 1] && !series[i]) drops++;
      // Index 4 is the observation 2 hours long.
      if (series.slice(4).every(Boolean)) keptFrom2h++;
    }
    expect(drops).toBeLessThanOrEqual(30);
    expect(keptFrom2h).toBeGreaterThanOrEqual(20);
  });

  it('keeps a verdict at most an hour past the last one the rules gave', () => {
    // Flat processes with wandering noise are flagged by chance now and then: the hold may not
    // make such a flag last, nor raise one the rules did not give within the hour before.
    let held = 0;
    for (const pattern of [
      [noise(2, 30)],
      [noise(2, 5)],
      [noise(1, 20), { type: 'log', pct: 4, tauMinutes: 30 } as Component],
    ]) {
      for (let seed = 0; seed < 60; seed++) {
        const rules = overTime(pattern, seed, NO_HOLD);
        const kept = overTime(pattern, seed);
        for (let i = 0; i < kept.length; i++) {
          if (rules[i]) expect(kept[i]).toBe(true);
          if (!kept[i] || rules[i]) continue;
          held++;
          expect(rules.slice(Math.max(0, i - 4), i)).toContain(true);
        }
      }
    }
    // Some verdicts were kept, so the bound above was put to the test.
    expect(held).toBeGreaterThan(0);
  });
});

describe('windows of up to a day, with the same hours of the day before', () => {
  /** The last 12 hours of 36, judged without and with the day before. */
  function lastHalfDay(pattern: Component[], seed: number) {
    const s = simulate(pattern, 36, seed);
    const inc = s.incarnations[0] as IncarnationInput;
    const window = { windowStartMs: s.windowEndMs - 12 * HOUR, windowEndMs: s.windowEndMs };
    return {
      alone: scoreIncarnation(inc, window),
      withDay: scoreIncarnation({ ...inc, dayBefore: inc.buckets }, window),
    };
  }
  // sin(2π(t + phase)/24 h): phase −6 h rises over the last 12 of 36 hours, +6 h falls.
  const cycle = (phaseHours: number): Component => ({
    type: 'diurnal',
    amplitudePct: 15,
    phaseHours,
  });

  it("does not call a daily cycle's morning ramp a leak once the day before is known", () => {
    for (const seed of [1, 2, 3]) {
      const { alone, withDay } = lastHalfDay([cycle(-6), noise(1)], seed);
      expect(alone.leak).toBe(true);
      expect(withDay.leak).toBe(false);
      expect(withDay.reason).toBe('daily-cycle');
    }
  });

  it("finds a leak riding a daily cycle's downswing from its growth over the day", () => {
    for (const seed of [1, 2, 3]) {
      const { alone, withDay } = lastHalfDay(
        [cycle(6), noise(1), { type: 'linear', pctPerHour: 1 }],
        seed,
      );
      expect(alone.leak).toBe(false);
      expect(withDay.leak).toBe(true);
      expect(withDay.timeToLimitHours).toBeGreaterThan(0);
    }
  });

  it('compares a whole day with the hours before it, where a leak in bursts on a daily load hides', () => {
    // A day's window on hourly floors, as storage serves it: a load of ±8 % with a saw-tooth,
    // bursts of 12 %/h for 50 minutes about every 3.5 hours, at three phases and 12 seeds. The
    // trend test reads the cycle as persistence and finds 25 of the 36; against the four hours
    // before the window (storage reads them for windows of up to a day), 35. The load alone
    // stays quiet either way.
    let found = 0;
    let falseAlarms = 0;
    for (let seed = 1; seed <= 12; seed++) {
      for (const phaseHours of [0, 8, 16]) {
        const load: Component[] = [
          { type: 'diurnal', amplitudePct: 8, periodHours: 24, phaseHours },
          { type: 'sawtooth', amplitudePct: 15, periodMinutes: 2 },
          noise(0.7, 30),
        ];
        const judge = (pattern: Component[]) => {
          const s = simulate(pattern, 48, seed);
          const inc = s.incarnations[0] as IncarnationInput;
          const window = { windowStartMs: s.windowEndMs - 24 * HOUR, windowEndMs: s.windowEndMs };
          return scoreIncarnation(
            {
              ...inc,
              buckets: mergeIntoHours(inc.buckets).filter(
                (b) => b.tStartMs >= window.windowStartMs,
              ),
              dayBefore: inc.buckets.filter(
                (b) =>
                  b.tStartMs >= window.windowStartMs - 4 * HOUR && b.tEndMs <= window.windowStartMs,
              ),
            },
            window,
          ).leak;
        };
        if (judge([...load, { type: 'bursty', pctPerHour: 12, burstMinutes: 50, everyHours: 3.5 }]))
          found++;
        if (judge(load)) falseAlarms++;
      }
    }
    expect(found).toBeGreaterThanOrEqual(33);
    expect(falseAlarms).toBe(0);
  });

  it('finds a slow leak in bursts from its growth over the day when the window saw little', () => {
    // Bursts of 7 %/h for 20 minutes about every 4 hours: 0.6 %/h on average, 14 % a day, but a
    // 6-hour window holds one or two bursts, often none. While the day's growth counted only from
    // twice the minimum rate (12 %), 10 of 20 were found.
    const quiet = { type: 'noise', pct: 0.5, corrMinutes: 10 } as const;
    let alone = 0;
    let withDay = 0;
    let falseAlarms = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const window = (s: { windowEndMs: number }) => ({
        windowStartMs: s.windowEndMs - 6 * HOUR,
        windowEndMs: s.windowEndMs,
      });
      const s = simulate(
        [quiet, { type: 'bursty', pctPerHour: 7, burstMinutes: 20, everyHours: 4 }],
        36,
        seed,
      );
      const inc = s.incarnations[0] as IncarnationInput;
      if (scoreIncarnation(inc, window(s)).leak) alone++;
      if (scoreIncarnation({ ...inc, dayBefore: inc.buckets }, window(s)).leak) withDay++;
      const flat = simulate([quiet], 36, seed);
      const flatInc = flat.incarnations[0] as IncarnationInput;
      if (scoreIncarnation({ ...flatInc, dayBefore: flatInc.buckets }, window(flat)).leak) {
        falseAlarms++;
      }
    }
    expect(alone).toBeLessThanOrEqual(5);
    expect(withDay).toBeGreaterThanOrEqual(12);
    expect(falseAlarms).toBe(0);
  });

  it("does not count a young day-before's warm-up as growth over the day", () => {
    // An index growing with the logarithm of its age, a day and a few hours old: a day earlier it
    // was in its first hours, rising fastest: compared with them it grew 9–13 % in a day, and 6 of
    // these 18 were flagged before the day before had to be past the young hours.
    let flagged = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      for (const hours of [25, 26, 27]) {
        const s = simulate(
          [
            { type: 'log', pct: 4, tauMinutes: 5 },
            { type: 'noise', pct: 0.3, corrMinutes: 5 },
          ],
          hours,
          seed,
          { startedHoursBefore: 0 },
        );
        const inc = s.incarnations[0] as IncarnationInput;
        const window = { windowStartMs: s.windowEndMs - 6 * HOUR, windowEndMs: s.windowEndMs };
        if (scoreIncarnation({ ...inc, dayBefore: inc.buckets }, window).leak) flagged++;
      }
    }
    expect(flagged).toBe(0);
  });

  it('changes nothing for a flat process or a plain leak', () => {
    for (const seed of [1, 2, 3]) {
      const flat = lastHalfDay([noise(1)], seed);
      expect([flat.alone.leak, flat.withDay.leak]).toEqual([false, false]);
      const leak = lastHalfDay([noise(1), { type: 'linear', pctPerHour: 1 }], seed);
      expect([leak.alone.leak, leak.withDay.leak]).toEqual([true, true]);
    }
  });
});

/** Hourly buckets from t = 0 whose floors are the given values (a minute's samples each). */
function hourlyFloors(kb: readonly number[]): IncarnationInput['buckets'] {
  return kb.map((v, h) => ({
    tStartMs: h * HOUR,
    tEndMs: (h + 1) * HOUR,
    n: 60,
    min: v,
    max: v * 1.01,
    last: v,
    lastAtMs: (h + 1) * HOUR - 60_000,
    sum: 60 * v,
    sumDt: 0,
    sumDt2: 0,
    sumDtY: 0,
  }));
}

describe('growthByAge', () => {
  // Floors every 10 minutes from 30 minutes after the start (the startup grace) to 8 hours.
  const xs = Array.from({ length: 46 }, (_, i) => i / 6);
  const firstAge = 0.5;
  const fit = (f: (ageHours: number) => number) =>
    growthByAge(
      xs,
      xs.map((x) => f(firstAge + x)),
      firstAge,
    );

  it('finds no steady rate in growth that follows the logarithm of the age', () => {
    // An index: 3 % of 100,000 KiB per e-fold of age (log1p(age / 5 min)).
    const r = fit((a) => 100_000 + 3_000 * Math.log1p(a / (5 / 60)));
    expect(r).not.toBeNull();
    expect(Math.abs(r?.ratePerHour ?? 1e9)).toBeLessThan(20);
    expect(r?.perLogAge).toBeGreaterThan(2_800);
  });

  it('finds the steady rate of a leak beside a logarithm or after a warm-up', () => {
    const leak = 2_000; // KiB/h: 2 %/h of 100,000 KiB
    const besideLog = fit((a) => 100_000 + 3_000 * Math.log1p(a / (5 / 60)) + leak * a);
    expect(besideLog?.ratePerHour).toBeGreaterThan(0.9 * leak);
    expect(besideLog?.ratePerHour).toBeLessThan(1.1 * leak);
    // A cache that fills 40 % in 20 minutes, then a leak: the warm-up's tail is not read as a
    // logarithm that would hide the leak.
    const afterWarmUp = fit((a) => 100_000 + 40_000 * (1 - Math.exp(-a / (20 / 60))) + leak * a);
    expect(afterWarmUp?.ratePerHour).toBeGreaterThan(0.8 * leak);
  });

  it('does not tell a logarithm from a line over ages that span less than a factor of three', () => {
    expect(
      growthByAge(
        xs,
        xs.map((x) => 100_000 + 500 * x),
        4,
      ),
    ).toBeNull();
  });
});
