/**
 * Exact null distribution of Kendall's S for a handful of points. With a dozen floors or fewer
 * (the first hours of 10-minute floors, the hourly floors of a window just over 6 hours) the
 * normal approximation is too conservative in the tail: six strictly increasing floors have
 * probability 1/6! = 0.0014 under no trend where the approximation says 0.0043, and one swapped
 * pair (exactly 6/720 = 0.0083) already fails the 1 % level under the approximation (0.012).
 *
 * Without ties, S = n(n−1)/2 − 2·I where I is the number of inversions of the ranks, and the
 * number of permutations of n with I inversions is the Mahonian number M(n, I).
 */

/** Exact tails are used up to this many points (12! < 2^53, counts stay exact in doubles). */
export const EXACT_MAX_POINTS = 12;

const distributions: Float64Array[] = [];

/** P(I = k) for k = 0 … n(n−1)/2, over the n! equally likely orderings. Cached per n. */
export function inversionDistribution(n: number): Float64Array {
  const cached = distributions[n];
  if (cached) return cached;
  let counts = new Float64Array([1]);
  for (let m = 2; m <= n; m++) {
    // Inserting the m-th element adds 0 … m−1 inversions.
    const next = new Float64Array(counts.length + m - 1);
    for (let k = 0; k < next.length; k++) {
      let c = 0;
      for (let j = 0; j < m && j <= k; j++) c += counts[k - j] ?? 0;
      next[k] = c;
    }
    counts = next;
  }
  let total = 0;
  for (const c of counts) total += c;
  const probs = counts.map((c) => c / total);
  distributions[n] = probs;
  return probs;
}

/**
 * P(S ≥ s) for n untied points under no trend, exactly. `s` may be fractional (a statistic shrunk
 * for autocorrelation); the tail is then taken at the next value S can take.
 */
export function exactUpperTail(n: number, s: number): number {
  const dist = inversionDistribution(n);
  const pairs = (n * (n - 1)) / 2;
  // S ≥ s  ⇔  I ≤ (pairs − s) / 2.
  const maxI = Math.floor((pairs - s) / 2 + 1e-9);
  if (maxI < 0) return 0;
  let p = 0;
  for (let i = 0; i <= maxI && i < dist.length; i++) p += dist[i] as number;
  return Math.min(1, p);
}
