import { addSample, emptyBucket, FIVE_MINUTES_MS, type MetricBucket } from '../src/buckets.ts';
import { type Fleet, type Instance, sampleInstance } from './fleet.ts';

/** One instance's history as the storage keeps it: 5-minute buckets per incarnation. */
export interface InstanceHistory {
  instance: Instance;
  /** Indexed like `instance.incarnations`; each list sorted by time. */
  buckets: MetricBucket[][];
  samples: number;
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
  sampleInstance(fleet, inst, (tMs, k, kb) => {
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
  return { instance: inst, buckets, samples };
}
