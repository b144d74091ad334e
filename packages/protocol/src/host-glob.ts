/**
 * Whether `name` matches the host glob: `*` any run of characters, `?` one, anything else itself.
 * Host globs are `top --host`, an enroll token's hosts, and known_hosts patterns.
 * Matched without a regular expression: `^.*a.*a.*…b$` backtracks exponentially on a name with
 * many a's (a dozen stars held a 40-character name for over a minute), and the glob comes from
 * any reader's `--host`. This walk keeps only the last star's position: O(glob × name) at worst.
 */
export function hostGlobMatches(glob: string, name: string): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let starName = 0;
  while (n < name.length) {
    const c = glob[g];
    if (c === '*') {
      star = g++;
      starName = n;
    } else if (c !== undefined && (c === '?' || c === name[n])) {
      g++;
      n++;
    } else if (star >= 0) {
      // Let the last star take one more character and try the rest again from there.
      g = star + 1;
      n = ++starName;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}
