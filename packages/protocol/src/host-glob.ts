// Host globs: `top --host`, `report run --host`, an enroll token's hosts. The shell's pattern
// language as far as host names need it: `*` any run of characters, `?` one, `[abc]`, `[a-z]`
// and `[!abc]` (or `[^abc]`) one of a set or not, `{web,db}-1` alternatives, `\` before a
// character to take it literally. Anything else matches itself.
//
// Matched without a regular expression: `^.*a.*a.*…b$` backtracks exponentially on a name with
// many a's (a dozen stars held a 40-character name for over a minute), and the glob comes from
// any reader's `--host`. Braces are expanded first, into at most HOST_GLOB_MAX_EXPANSIONS
// patterns of at most HOST_GLOB_MAX_EXPANDED_CHARS characters together; every one is matched by a
// walk that keeps only the last star's position, O(pattern × name) at worst.

/** Patterns one glob's braces may expand to: `{a,b}{c,d}` is four. */
export const HOST_GLOB_MAX_EXPANSIONS = 64;
/**
 * Characters of all those patterns together: matching costs up to pattern × name steps for each,
 * so this keeps a glob with braces within a few times the cost of the longest glob without.
 */
export const HOST_GLOB_MAX_EXPANDED_CHARS = 1024;
/** Braces inside braces: `{a,{b,{c,d}}}` is three deep. */
export const HOST_GLOB_MAX_BRACE_DEPTH = 3;

/** A glob that is not well formed: an unclosed `[` or `{`, a stray `]` or `}`, too many braces. */
export class HostGlobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostGlobError';
  }
}

/** One pattern position: a run of any characters, or exactly one character out of a set. */
type Token =
  | { kind: 'star' }
  | { kind: 'any' }
  | { kind: 'char'; c: string }
  | { kind: 'class'; negated: boolean; ranges: readonly (readonly [number, number])[] };

/** Whether a host name matches: compile once with `compileHostGlob` to test many names. */
export type HostGlobMatcher = (name: string) => boolean;

/**
 * Whether `name` matches the host glob. Throws HostGlobError when the glob is malformed: a
 * pattern that can match nothing because of a typo must say so rather than match no host.
 */
export function hostGlobMatches(glob: string, name: string): boolean {
  return compileHostGlob(glob)(name);
}

/** Why `glob` is not a well-formed host glob, or null when it is. */
export function hostGlobProblem(glob: string): string | null {
  try {
    compileHostGlob(glob);
    return null;
  } catch (error) {
    if (error instanceof HostGlobError) return error.message;
    throw error;
  }
}

/** Parses the glob once (throwing HostGlobError when malformed) for matching many names. */
export function compileHostGlob(glob: string): HostGlobMatcher {
  const patterns = expandBraces(glob).map(tokenize);
  return (name) => {
    const chars = Array.from(name);
    return patterns.some((tokens) => matchTokens(tokens, chars));
  };
}

/**
 * `*` and `?` only, everything else itself (`[host]:port` is a name, not a set): OpenSSH's
 * match_pattern, for known_hosts patterns.
 */
export function wildcardMatches(pattern: string, name: string): boolean {
  const tokens: Token[] = Array.from(pattern, (c) =>
    c === '*' ? { kind: 'star' } : c === '?' ? { kind: 'any' } : { kind: 'char', c },
  );
  return matchTokens(tokens, Array.from(name));
}

function matchTokens(tokens: readonly Token[], name: readonly string[]): boolean {
  let g = 0;
  let n = 0;
  let star = -1;
  let starName = 0;
  while (n < name.length) {
    const t = tokens[g];
    if (t?.kind === 'star') {
      star = g++;
      starName = n;
    } else if (t !== undefined && matchesOne(t, name[n] as string)) {
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
  while (tokens[g]?.kind === 'star') g++;
  return g === tokens.length;
}

function matchesOne(t: Exclude<Token, { kind: 'star' }>, c: string): boolean {
  if (t.kind === 'any') return true;
  if (t.kind === 'char') return t.c === c;
  const code = c.codePointAt(0) as number;
  return t.ranges.some(([lo, hi]) => code >= lo && code <= hi) !== t.negated;
}

/** `character 7`: positions in messages count characters from 1, as an editor does. */
const at = (i: number) => `character ${i + 1}`;

/**
 * The index just after the `]` that closes the set opening at `open`. A `]` right after `[`
 * (or `[!`, `[^`) is a member, as in the shell.
 */
function classEnd(glob: string, open: number): number {
  let i = open + 1;
  if (glob[i] === '!' || glob[i] === '^') i++;
  if (glob[i] === ']') i++;
  for (; i < glob.length; i++) {
    if (glob[i] === '\\') i++;
    else if (glob[i] === ']') return i + 1;
  }
  throw new HostGlobError(`"[" at ${at(open)} is never closed by "]"`);
}

/**
 * The glob with its braces expanded: `web-{a,b}` into `web-a` and `web-b`. Sets and escaped
 * characters are copied as they are (a `,` or `{` in `[…]` is a member of the set).
 */
function expandBraces(glob: string): string[] {
  const tooMany = () =>
    new HostGlobError(
      `braces expand to more than ${HOST_GLOB_MAX_EXPANSIONS} patterns: use fewer alternatives, or * or [...]`,
    );
  let i = 0;

  /** A sequence up to a `,` or `}` of the group `depth` deep (the end of the glob at depth 0). */
  function sequence(depth: number): string[] {
    let out = [''];
    while (i < glob.length) {
      const c = glob[i] as string;
      if (c === '{') {
        if (depth === HOST_GLOB_MAX_BRACE_DEPTH) {
          throw new HostGlobError(
            `braces nest more than ${HOST_GLOB_MAX_BRACE_DEPTH} deep (${at(i)})`,
          );
        }
        const open = i++;
        const alternatives: string[] = [];
        for (;;) {
          alternatives.push(...sequence(depth + 1));
          if (alternatives.length > HOST_GLOB_MAX_EXPANSIONS) throw tooMany();
          if (i >= glob.length) {
            throw new HostGlobError(`"{" at ${at(open)} is never closed by "}"`);
          }
          if (glob[i++] === '}') break;
        }
        if (out.length * alternatives.length > HOST_GLOB_MAX_EXPANSIONS) throw tooMany();
        out = out.flatMap((head) => alternatives.map((tail) => head + tail));
      } else if (c === '}' || c === ',') {
        if (depth > 0) return out;
        throw new HostGlobError(
          c === '}'
            ? `"}" at ${at(i)} closes no "{"`
            : `"," at ${at(i)} is outside braces: alternatives are written {a,b}`,
        );
      } else {
        const end = c === '[' ? classEnd(glob, i) : c === '\\' ? i + 2 : i + 1;
        const text = glob.slice(i, end);
        out = out.map((head) => head + text);
        i = end;
      }
    }
    return out;
  }

  const patterns = sequence(0);
  const chars = patterns.reduce((sum, p) => sum + p.length, 0);
  if (chars > HOST_GLOB_MAX_EXPANDED_CHARS) {
    throw new HostGlobError(
      `braces expand to ${chars} characters of patterns, more than ${HOST_GLOB_MAX_EXPANDED_CHARS}: move the common part out of the braces, or use * or [...]`,
    );
  }
  return patterns;
}

/** One expanded pattern (no braces left) as tokens; checks sets and escapes. */
function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
    } else if (c === '\\') {
      const next = chars[++i];
      if (next === undefined) throw new HostGlobError('"\\" at the end escapes nothing');
      tokens.push({ kind: 'char', c: next });
    } else if (c === '[') {
      i = setToken(chars, i, tokens);
    } else if (c === ']') {
      throw new HostGlobError('"]" closes no "["');
    } else {
      tokens.push({ kind: 'char', c });
    }
  }
  return tokens;
}

/** Parses the set opening at `open`, pushes its token and returns the index of its `]`. */
function setToken(chars: readonly string[], open: number, tokens: Token[]): number {
  // classEnd found the `]` in the whole glob already; this only guards the walk.
  const unclosed = () => new HostGlobError('"[" is never closed by "]"');
  let i = open + 1;
  const negated = chars[i] === '!' || chars[i] === '^';
  if (negated) i++;
  if (chars[i] === '[' && chars[i + 1] === ':') {
    throw new HostGlobError(
      'named classes such as [[:digit:]] are not supported: list the characters, e.g. [0-9]',
    );
  }
  const ranges: [number, number][] = [];
  const member = () => {
    let c = chars[i++];
    if (c === '\\') c = chars[i++];
    if (c === undefined) throw unclosed();
    return c.codePointAt(0) as number;
  };
  let first = true;
  for (;;) {
    if (i >= chars.length) throw unclosed();
    if (chars[i] === ']' && !first) {
      tokens.push({ kind: 'class', negated, ranges });
      return i;
    }
    first = false;
    const lo = member();
    if (chars[i] === '-' && chars[i + 1] !== ']' && chars[i + 1] !== undefined) {
      i++;
      const hi = member();
      if (hi < lo) {
        throw new HostGlobError(
          `the range ${String.fromCodePoint(lo)}-${String.fromCodePoint(hi)} in [...] is backwards: write ${String.fromCodePoint(hi)}-${String.fromCodePoint(lo)}`,
        );
      }
      ranges.push([lo, hi]);
    } else {
      ranges.push([lo, lo]);
    }
  }
}
