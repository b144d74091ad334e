import { addSample, emptyBucket, FIVE_MINUTES_MS, type MetricBucket } from '../src/buckets.ts';
import { type Fleet, type Instance, sampleInstance } from './fleet.ts';

/** One instance's history as the storage keeps it: 5-minute buckets per incarnation. */
export interface InstanceHistory {
  instance: Instance;
  /** Indexed like `instance.incarnations`; each list sorted by time. */
  buckets: MetricBucket[][];
  samples: number;
  /**
   * When the leak first added memory (its first step, its first burst under load, or the start
   * of linear growth); null for a process that does not leak. Detection time counts from here.
   */
  leakShowsMs: number | null;
}

/**
 * Runs the simulation of one instance and folds the samples into 5-minute buckets exactly as
 * an upsert per sample would: aligned to multiples of 5 minutes, keyed by incarnation.
 */
export function historyOf(
  fleet: Fleet,
  inst: Instance,
  widthMs = FIVE_MINUTES_MS,
): InstanceHistory {
  const buckets: MetricBucket[][] = inst.incarnations.map(() => []);
  let samples = 0;
  let leakShowsMs: number | null = null;
  sampleInstance(fleet, inst, (tMs, k, kb, leakPct) => {
    if (leakShowsMs === null && leakPct > 0) leakShowsMs = tMs;
    const list = buckets[k] as MetricBucket[];
    const start = Math.floor(tMs / widthMs) * widthMs;
    let b = list[list.length - 1];
    if (!b || b.tStartMs !== start) {
      b = emptyBucket(start, widthMs);
      list.push(b);
    }
    addSample(b, tMs, kb);
    samples++;
  });
  return { instance: inst, buckets, samples, leakShowsMs };
}
