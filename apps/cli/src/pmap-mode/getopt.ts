// A hand-written equivalent of glibc's getopt_long for pmap's command line. commander (used for
// the subcommands) cannot reproduce getopt's permutation, abbreviation of long options, option
// bundling or its exact error messages, and pmap mode must match pmap byte for byte.

export interface LongOption {
  name: string;
  hasArg: boolean;
  /** The short option it stands for, or an extension name. */
  val: string;
}

export type GetoptEvent =
  | { kind: 'option'; opt: string; arg?: string }
  /** getopt printed `message` (without the program name) and returned '?'. */
  | { kind: 'error'; message: string };

export interface GetoptResult {
  events: GetoptEvent[];
  operands: string[];
}

export interface GetoptSpec {
  /** Short options; a letter followed by ':' takes an argument. */
  shortOptions: string;
  longOptions: readonly LongOption[];
  /**
   * Long options that are recognised only when spelled out in full, so they never make one of
   * the getopt long options ambiguous or change how an abbreviation resolves.
   */
  exactOptions: readonly LongOption[];
  /** POSIXLY_CORRECT: the first operand ends option parsing. */
  posixlyCorrect: boolean;
}

/** Parses `argv` (without the program name) the way getopt_long does. */
export function getoptLong(argv: readonly string[], spec: GetoptSpec): GetoptResult {
  const events: GetoptEvent[] = [];
  const operands: string[] = [];
  const takesArg = (c: string): boolean | null => {
    if (c === ':' || c === ';') return null;
    const at = spec.shortOptions.indexOf(c);
    if (at < 0) return null;
    return spec.shortOptions[at + 1] === ':';
  };

  let i = 0;
  while (i < argv.length) {
    const a = argv[i] ?? '';
    i++;
    if (a === '--') {
      operands.push(...argv.slice(i));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      operands.push(a);
      if (spec.posixlyCorrect) {
        operands.push(...argv.slice(i));
        break;
      }
      continue;
    }

    if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq < 0 ? body : body.slice(0, eq);
      const inlineArg = eq < 0 ? undefined : body.slice(eq + 1);
      let found = spec.exactOptions.find((o) => o.name === name);
      if (!found) {
        found = spec.longOptions.find((o) => o.name === name);
        if (!found) {
          const matches = spec.longOptions.filter((o) => o.name.startsWith(name));
          if (matches.length > 1) {
            const list = matches.map((o) => ` '--${o.name}'`).join('');
            events.push({
              kind: 'error',
              message: `option '--${body}' is ambiguous; possibilities:${list}`,
            });
            continue;
          }
          found = matches[0];
        }
      }
      if (!found) {
        events.push({ kind: 'error', message: `unrecognized option '--${body}'` });
        continue;
      }
      if (found.hasArg) {
        let arg = inlineArg;
        if (arg === undefined) {
          if (i < argv.length) arg = argv[i++];
          else {
            events.push({
              kind: 'error',
              message: `option '--${found.name}' requires an argument`,
            });
            continue;
          }
        }
        events.push({ kind: 'option', opt: found.val, arg: arg ?? '' });
      } else if (inlineArg !== undefined) {
        events.push({
          kind: 'error',
          message: `option '--${found.name}' doesn't allow an argument`,
        });
      } else {
        events.push({ kind: 'option', opt: found.val });
      }
      continue;
    }

    for (let j = 1; j < a.length; j++) {
      const c = a[j] ?? '';
      const needs = takesArg(c);
      if (needs === null) {
        events.push({ kind: 'error', message: `invalid option -- '${c}'` });
        continue;
      }
      if (!needs) {
        events.push({ kind: 'option', opt: c });
        continue;
      }
      if (j + 1 < a.length) {
        events.push({ kind: 'option', opt: c, arg: a.slice(j + 1) });
      } else if (i < argv.length) {
        events.push({ kind: 'option', opt: c, arg: argv[i++] ?? '' });
      } else {
        events.push({ kind: 'error', message: `option requires an argument -- '${c}'` });
      }
      break;
    }
  }
  return { events, operands };
}
