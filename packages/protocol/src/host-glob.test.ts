import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileHostGlob,
  HOST_GLOB_MAX_EXPANDED_CHARS,
  HOST_GLOB_MAX_EXPANSIONS,
  HostGlobError,
  hostGlobMatches,
  hostGlobProblem,
  wildcardMatches,
} from './host-glob.ts';

describe('hostGlobMatches', () => {
  it('matches `*` and `?`, and everything else outside the syntax literally', () => {
    expect(hostGlobMatches('web-*', 'web-07')).toBe(true);
    expect(hostGlobMatches('web-*', 'xweb-07')).toBe(false);
    expect(hostGlobMatches('web-0?', 'web-07')).toBe(true);
    expect(hostGlobMatches('web-0?', 'web-070')).toBe(false);
    expect(hostGlobMatches('*', '')).toBe(true);
    expect(hostGlobMatches('*-eu-*', 'db-eu-1')).toBe(true);
    expect(hostGlobMatches('*-eu-*', 'db-us-1')).toBe(false);
    // A dot is a dot: `db.1` must not admit `dbx1`.
    expect(hostGlobMatches('db.1', 'dbx1')).toBe(false);
  });

  it('matches sets, ranges and negated sets as the shell does', () => {
    const hosts = ['web-001', 'web-002', 'web-003', 'web-00a'];
    const chosen = (glob: string) => hosts.filter(compileHostGlob(glob));
    expect(chosen('web-00[12]')).toEqual(['web-001', 'web-002']);
    expect(chosen('web-00[1-3]')).toEqual(['web-001', 'web-002', 'web-003']);
    expect(chosen('web-00[!12]')).toEqual(['web-003', 'web-00a']);
    expect(chosen('web-00[^12]')).toEqual(['web-003', 'web-00a']);
    expect(chosen('web-00[0-9a-f]')).toEqual(hosts);
    // `]` first in a set and `-` first or last are members; `\` takes the next character as is.
    expect(hostGlobMatches('a[]b]c', 'a]c')).toBe(true);
    expect(hostGlobMatches('a[!]]c', 'a]c')).toBe(false);
    expect(hostGlobMatches('web[-.]1', 'web-1')).toBe(true);
    expect(hostGlobMatches('web[.-]1', 'web-1')).toBe(true);
    expect(hostGlobMatches('web\\*', 'web-1')).toBe(false);
    expect(hostGlobMatches('web\\*', 'web*')).toBe(true);
  });

  it('expands braces into alternatives, nested too', () => {
    const hosts = ['web-001', 'web-002', 'web-003', 'db-001', 'db-eu-1'];
    const chosen = (glob: string) => hosts.filter(compileHostGlob(glob));
    expect(chosen('web-00{1,2}')).toEqual(['web-001', 'web-002']);
    expect(chosen('{web,db}-001')).toEqual(['web-001', 'db-001']);
    expect(chosen('{web-00[23],db-{eu,us}-*}')).toEqual(['web-002', 'web-003', 'db-eu-1']);
    expect(chosen('web-00{,1}')).toEqual(['web-001']);
    // A `,` or a `}` inside a set belongs to the set.
    expect(hostGlobMatches('{a[,}]b,c}', 'a,b')).toBe(true);
    expect(hostGlobMatches('{a[,}]b,c}', 'c')).toBe(true);
  });

  it('says what is wrong with a malformed glob instead of matching nothing', () => {
    const problems: [string, RegExp][] = [
      ['web-00[12', /"\[" at character 7 is never closed by "\]"/],
      ['web-[]', /never closed/],
      ['web-00]', /"\]" closes no "\["/],
      ['web-00{1,2', /"\{" at character 7 is never closed by "\}"/],
      ['web-00}', /"\}" at character 7 closes no "\{"/],
      ['web-1,web-2', /outside braces: alternatives are written \{a,b\}/],
      ['web-[z-a]', /range z-a .* is backwards/],
      ['web-[[:digit:]]', /named classes .* are not supported/],
      ['web\\', /escapes nothing/],
      ['{a,b}'.repeat(7), /more than 64 patterns/],
      [`{${Array.from({ length: 65 }, (_, i) => `h${i}`).join(',')}}`, /more than 64 patterns/],
      ['{a,{b,{c,{d,e}}}}', /nest more than 3 deep/],
      [`{a,b}{a,b}{a,b}*${'a'.repeat(200)}`, /more than 1024: move the common part out/],
    ];
    for (const [glob, message] of problems) {
      expect(hostGlobProblem(glob), glob).toMatch(message);
      expect(() => hostGlobMatches(glob, 'web-001'), glob).toThrow(HostGlobError);
    }
    expect(hostGlobProblem('{a,{b,{c,d}}}-[0-9]*')).toBeNull();
    expect(hostGlobProblem('{a,b}'.repeat(6))).toBeNull();
  });

  it('agrees with a regular expression on every well-formed glob and name', () => {
    type Part =
      | { kind: 'char'; c: string }
      | { kind: 'any' }
      | { kind: 'star' }
      | { kind: 'set'; negation: '' | '!' | '^'; members: string[] }
      | { kind: 'alt'; options: Part[][] };
    const letter = fc.constantFrom('a', 'b', 'c', 'd');
    const member = fc.oneof(
      letter,
      fc.constant('.'),
      fc.tuple(letter, letter).map(([x, y]) => (x <= y ? `${x}-${y}` : `${y}-${x}`)),
    );
    const leaf = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.constantFrom('a', 'b', '-', '.').map((c) => ({ kind: 'char', c })),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'any' }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'star' }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('set'),
          negation: fc.constantFrom('', '!', '^'),
          members: fc.array(member, { minLength: 1, maxLength: 3 }),
        }),
      },
    ) as fc.Arbitrary<Part>;
    const { sequence } = fc.letrec<{ sequence: Part[]; part: Part }>((tie) => ({
      sequence: fc.array(tie('part'), { maxLength: 5 }),
      part: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        leaf,
        fc.record({
          kind: fc.constant('alt'),
          options: fc.array(tie('sequence'), { minLength: 1, maxLength: 3 }),
        }) as fc.Arbitrary<Part>,
      ),
    }));
    const glob = (parts: Part[]): string =>
      parts
        .map((p) =>
          p.kind === 'char'
            ? p.c
            : p.kind === 'any'
              ? '?'
              : p.kind === 'star'
                ? '*'
                : p.kind === 'set'
                  ? `[${p.negation}${p.members.join('')}]`
                  : `{${p.options.map(glob).join(',')}}`,
        )
        .join('');
    const regex = (parts: Part[]): string =>
      parts
        .map((p) =>
          p.kind === 'char'
            ? p.c.replace('.', '\\.')
            : p.kind === 'any'
              ? '.'
              : p.kind === 'star'
                ? '.*'
                : p.kind === 'set'
                  ? `[${p.negation === '' ? '' : '^'}${p.members.join('').replaceAll('.', '\\.')}]`
                  : `(?:${p.options.map(regex).join('|')})`,
        )
        .join('');
    const depth = (parts: Part[]): number =>
      Math.max(
        0,
        ...parts.map((p) => (p.kind === 'alt' ? 1 + Math.max(...p.options.map(depth)) : 0)),
      );
    const expansions = (parts: Part[]): number =>
      parts.reduce(
        (n, p) => n * (p.kind === 'alt' ? p.options.reduce((s, o) => s + expansions(o), 0) : 1),
        1,
      );
    // Every pattern the braces make, to weigh them (only called within the count limit).
    const expanded = (parts: Part[]): string[] =>
      parts.reduce(
        (heads, p) =>
          heads.flatMap((h) =>
            p.kind === 'alt' ? p.options.flatMap(expanded).map((t) => h + t) : [h + glob([p])],
          ),
        [''],
      );
    fc.assert(
      fc.property(
        sequence,
        fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'd', '-', '.'), maxLength: 12 }),
        (parts, name) => {
          const text = glob(parts);
          if (
            depth(parts) > 3 ||
            expansions(parts) > HOST_GLOB_MAX_EXPANSIONS ||
            expanded(parts).reduce((a, b) => a + b.length, 0) > HOST_GLOB_MAX_EXPANDED_CHARS
          ) {
            expect(hostGlobProblem(text)).not.toBeNull();
            return;
          }
          expect(hostGlobMatches(text, name), text).toBe(
            new RegExp(`^${regex(parts)}$`, 'u').test(name),
          );
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('either matches or names the problem for any text, never anything else', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('a', '-', '*', '?', '[', ']', '!', '{', '}', ','),
          maxLength: 16,
        }),
        fc.string({ unit: fc.constantFrom('a', '-', ']', '!'), maxLength: 8 }),
        (glob, name) => {
          const problem = hostGlobProblem(glob);
          if (problem === null) expect(typeof hostGlobMatches(glob, name)).toBe('boolean');
          else expect(() => hostGlobMatches(glob, name)).toThrow(problem);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('never backtracks for long, with sets and braces too', () => {
    const name = 'a'.repeat(253);
    // What held the regular expression for over a minute: a dozen stars against 253 a's.
    const pathological = [
      `${'*a'.repeat(12)}*b`,
      `${'*[a]'.repeat(12)}*[!a]`,
      `${'*?'.repeat(60)}*b`,
      `*${'a'.repeat(200)}b`,
      // As many characters of patterns as braces may make, each pattern as slow as can be.
      `{*a,*[ab]}{*a,*?}*${'a'.repeat(230)}b`,
      `${'{*a,*?}'.repeat(5)}{*b,*[ab]b}`,
    ];
    for (const glob of pathological) {
      expect(glob.length).toBeLessThanOrEqual(253);
      const match = compileHostGlob(glob);
      const t0 = performance.now();
      expect(match(name), glob).toBe(false);
      expect(performance.now() - t0, glob).toBeLessThan(100);
    }
  });
});

describe('wildcardMatches (known_hosts)', () => {
  it('knows only `*` and `?`: brackets and braces are the name itself', () => {
    expect(wildcardMatches('[web-07]:2222', '[web-07]:2222')).toBe(true);
    expect(wildcardMatches('[web-07]:2222', 'w:2222')).toBe(false);
    expect(wildcardMatches('[web-0?]:22*', '[web-07]:2222')).toBe(true);
    expect(wildcardMatches('web-{1,2}', 'web-1')).toBe(false);
    expect(wildcardMatches('*.example.com', 'a.example.com')).toBe(true);
  });
});
