/**
 * One-sided sign test: the probability of at least `positive` positive signs among
 * `positive + negative` (ties left out) when either sign is equally likely. Exact (binomial),
 * for the few dozen pairs a verdict compares.
 */
export function signTestUpper(positive: number, negative: number): number {
  const m = positive + negative;
  if (m === 0) return 1;
  // P(K = k) for k = 0…m, built term by term from P(K = 0) = 2^-m.
  let term = 2 ** -m;
  let tail = 0;
  for (let k = 0; k <= m; k++) {
    if (k >= positive) tail += term;
    term = (term * (m - k)) / (k + 1);
  }
  return Math.min(1, tail);
}
