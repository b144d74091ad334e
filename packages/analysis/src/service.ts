import {
  type IncarnationInput,
  type LeakScore,
  type ScoreOptions,
  scoreIncarnation,
} from './score.ts';

export interface ServiceOptions extends ScoreOptions {
  /**
   * Significance level at which a finished incarnation counts as "grew until it was
   * restarted". Looser than `alpha` because the pattern must repeat in every incarnation, which
   * is itself strong evidence.
   */
  incarnationAlpha?: number;
}

export type ServiceReason =
  | 'latest-incarnation-leaks'
  | 'every-incarnation-grows'
  | 'not-leaking'
  | 'too-little-data';

export interface ServiceScore {
  leak: boolean;
  reason: ServiceReason;
  /** The verdict on the most recent incarnation that had enough data to be judged. */
  latest: LeakScore | null;
  /** One verdict per incarnation, oldest first. */
  incarnations: LeakScore[];
  judgedIncarnations: number;
  growingIncarnations: number;
}

/**
 * The per-service pivot over incarnations: a restarted process is a new incarnation, so a
 * service that is restarted (by an OOM kill, a cron job or a deploy) before any single
 * incarnation shows enough growth still leaks if every incarnation grows until its restart.
 */
export function scoreService(
  incarnations: readonly IncarnationInput[],
  options: ServiceOptions,
): ServiceScore {
  const loose = { ...options, alpha: options.incarnationAlpha ?? 0.05 };
  const scored = incarnations
    .map((inc) => ({ strict: scoreIncarnation(inc, options), loose: scoreIncarnation(inc, loose) }))
    .filter((s) => s.strict.reason !== 'no-data')
    .sort((a, b) => a.strict.firstMs - b.strict.firstMs);
  const judged = scored.filter((s) => s.strict.reason !== 'too-little-data');
  const growing = judged.filter((s) => s.loose.leak);
  const latest = judged[judged.length - 1]?.strict ?? null;
  const base = {
    latest,
    incarnations: scored.map((s) => s.strict),
    judgedIncarnations: judged.length,
    growingIncarnations: growing.length,
  };
  if (latest === null) return { ...base, leak: false, reason: 'too-little-data' };
  if (latest.leak) return { ...base, leak: true, reason: 'latest-incarnation-leaks' };
  if (judged.length >= 2 && growing.length === judged.length) {
    return { ...base, leak: true, reason: 'every-incarnation-grows' };
  }
  return { ...base, leak: false, reason: 'not-leaking' };
}
