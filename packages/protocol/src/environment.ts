/**
 * Every FLEETPMAP_ environment variable a fleetpmap program reads, listed by the program that
 * reads it. Each loader reads its environment only through `environmentView` of its own list, so
 * a name missing from the list cannot be read, and the tests check that the loader reads every
 * name on it. A variable set but read by none of them is a typo or a leftover: the server and the
 * agent warn of it at start (`unknownVariables`) instead of ignoring it in silence.
 */

/** What `fleetpmap-server` reads (its config loader). */
export const SERVER_ENVIRONMENT = [
  'FLEETPMAP_DATABASE_URL',
  'FLEETPMAP_DATA_DIR',
  'FLEETPMAP_LISTEN',
  'FLEETPMAP_LOG_LEVEL',
  'FLEETPMAP_MAX_BODY_BYTES',
  'FLEETPMAP_MAX_INFLATED_BYTES',
  'FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT',
  'FLEETPMAP_MAX_CONNECTIONS',
  'FLEETPMAP_MAX_CONNECTIONS_PER_ADDRESS',
  'FLEETPMAP_REQUEST_TIMEOUT_MS',
  'FLEETPMAP_BODY_IDLE_TIMEOUT_MS',
  'FLEETPMAP_RATE_LIMIT_PER_SEC',
  'FLEETPMAP_RATE_LIMIT_BURST',
  'FLEETPMAP_MAINTENANCE_INTERVAL_MS',
  'FLEETPMAP_ROLLUP_INTERVAL_MS',
  'FLEETPMAP_VERDICT_WINDOWS',
  'FLEETPMAP_VERDICT_METRICS',
  'FLEETPMAP_WORKERS',
  'FLEETPMAP_REPORT_SCHEDULE',
  'FLEETPMAP_REPORT_TIMEZONE',
  'FLEETPMAP_REPORT_WINDOW',
  'FLEETPMAP_REPORT_METRIC',
  'FLEETPMAP_REPORT_WEBHOOK_URL',
  'FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE',
  'FLEETPMAP_REPORT_TICK_MS',
  'FLEETPMAP_REPORTS_FILE',
  'FLEETPMAP_RETENTION_SAMPLES_DAYS',
  'FLEETPMAP_RETENTION_MAPS_DAYS',
  'FLEETPMAP_RETENTION_AGGREGATES_5M_DAYS',
  'FLEETPMAP_RETENTION_AGGREGATES_1H_DAYS',
  'FLEETPMAP_RETENTION_REPORTS_DAYS',
] as const;

/** What `fleetpmap-agent` reads (its config loader). */
export const AGENT_ENVIRONMENT = [
  'FLEETPMAP_AGENT_CONFIG',
  'FLEETPMAP_SERVER',
  'FLEETPMAP_TOKEN_FILE',
  'FLEETPMAP_TOKEN',
  'FLEETPMAP_ENROLL_TOKEN_FILE',
  'FLEETPMAP_HOST_NAME',
  'FLEETPMAP_PROC_ROOT',
  'FLEETPMAP_SPOOL_DIR',
  'FLEETPMAP_LOG_LEVEL',
] as const;

/** What the `fleetpmap` CLI reads: the fleet commands' connection, and pmap mode's proc root. */
export const CLI_ENVIRONMENT = [
  'FLEETPMAP_CONFIG',
  'FLEETPMAP_SERVER',
  'FLEETPMAP_TOKEN',
  'FLEETPMAP_TOKEN_FILE',
  'FLEETPMAP_TIMEOUT',
  'FLEETPMAP_PROC_ROOT',
] as const;

/** What the repository's tests, benchmarks and tools read; never the programs themselves. */
export const TOOLING_ENVIRONMENT = [
  'FLEETPMAP_TEST_DATABASE_URL',
  'FLEETPMAP_TEST_LOG_LEVEL',
  'FLEETPMAP_TEST_CHROMIUM',
  'FLEETPMAP_BENCH_DATABASE_URL',
  'FLEETPMAP_BENCH_RUNS',
  'FLEETPMAP_BENCH_SERVER_NODE_ARGS',
  'FLEETPMAP_FUZZ_RUNS',
  'FLEETPMAP_CONFORMANCE_SUMMARY',
] as const;

/**
 * Every name some fleetpmap program or tool reads. A server's environment may hold the CLI's
 * FLEETPMAP_TOKEN_FILE (an operator's shell), a test's FLEETPMAP_TEST_DATABASE_URL: none is a typo.
 */
export const KNOWN_ENVIRONMENT: readonly string[] = [
  ...new Set<string>([
    ...SERVER_ENVIRONMENT,
    ...AGENT_ENVIRONMENT,
    ...CLI_ENVIRONMENT,
    ...TOOLING_ENVIRONMENT,
  ]),
].sort();

type Env = Readonly<Record<string, string | undefined>>;

/** The variables `names` of an environment, and no others. */
export type EnvironmentView<N extends string> = { readonly [K in N]?: string | undefined };

/**
 * `env` as a loader may read it: only the names on its list type-check, and any other name
 * throws, so what a loader reads and what its list says cannot part. Reads go through to `env`
 * when they happen.
 */
export function environmentView<const N extends string>(
  names: readonly N[],
  env: Env,
): EnvironmentView<N> {
  const allowed: ReadonlySet<string> = new Set(names);
  return new Proxy(Object.create(null) as EnvironmentView<N>, {
    get(_, name) {
      if (typeof name !== 'string' || !allowed.has(name)) {
        throw new Error(`${String(name)} is not on this program's list of variables`);
      }
      return env[name];
    },
  });
}

/**
 * The FLEETPMAP_ names `load` reads from the environment it is given, sorted: how a test checks a
 * loader against its list. The environment holds nothing but `base`.
 */
export function variablesRead(
  load: (env: Env) => unknown,
  base: Readonly<Record<string, string>> = {},
): string[] {
  const read = new Set<string>();
  const env = new Proxy({} as Record<string, string | undefined>, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      read.add(name);
      return base[name];
    },
  });
  try {
    load(env);
  } catch {
    // a loader may refuse an empty environment after reading it: what it read is what counts
  }
  return [...read].filter((n) => n.startsWith('FLEETPMAP_')).sort();
}

/** Levenshtein distance between two names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        substitution,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/** The part of a name after `FLEETPMAP_`. */
const suffix = (name: string) => name.slice('FLEETPMAP_'.length);

/**
 * The name of `among` that `name` is most likely a slip for, if any: one at most 3 edits away,
 * or one whose part after `FLEETPMAP_` begins the other's (`…_SPOOL_DIRECTORY` for
 * `…_SPOOL_DIR`). A name merely the least far off is no suggestion: following it would silence
 * the warning and still set nothing.
 */
export function closestKnownVariable(
  name: string,
  among: readonly string[] = KNOWN_ENVIRONMENT,
): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const known of among) {
    const distance = editDistance(name, known);
    const [short, long] = [suffix(name), suffix(known)].sort((x, y) => x.length - y.length) as [
      string,
      string,
    ];
    const near = distance <= 3 || (short.length >= 5 && long.startsWith(short));
    if (near && distance < bestDistance) {
      best = known;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * The FLEETPMAP_ variables of `env` that no fleetpmap program reads, each with the name of
 * `own` (the running program's list) it is likely a slip for, if there is one.
 */
export function unknownVariables(
  env: Env,
  own: readonly string[] = KNOWN_ENVIRONMENT,
): { name: string; closest: string | undefined }[] {
  const known: ReadonlySet<string> = new Set(KNOWN_ENVIRONMENT);
  return Object.keys(env)
    .filter((name) => name.startsWith('FLEETPMAP_') && !known.has(name))
    .sort()
    .map((name) => ({ name, closest: closestKnownVariable(name, own) }));
}

/** The warning a program logs for one unknown variable; `otherwise` says where settings go. */
export function unknownVariableMessage(
  { name, closest }: { name: string; closest: string | undefined },
  otherwise?: string,
): string {
  const base = `${name} is set but no fleetpmap program reads it, so it has no effect`;
  if (closest !== undefined) return `${base}; did you mean ${closest}?`;
  return otherwise === undefined ? base : `${base} (${otherwise})`;
}
