import type { Instance } from './fleet.ts';

/** The leak's average growth in % of the base size per hour (0 for a process that does not leak). */
export function leakRate(inst: Instance): number {
  let rate = 0;
  for (const c of inst.components) {
    const p = c as unknown as Record<string, number>;
    if (c.type === 'linear') rate += p.pctPerHour ?? 0;
    if (c.type === 'step') rate += (p.stepPct ?? 0) / (p.everyHours ?? 1);
    if (c.type === 'bursty') {
      // Bursts of length L arrive after exponential gaps of mean G: duty cycle L / (L + G).
      const burstH = (p.burstMinutes ?? 0) / 60;
      rate += ((p.pctPerHour ?? 0) * burstH) / (burstH + (p.everyHours ?? 1));
    }
  }
  return rate;
}
