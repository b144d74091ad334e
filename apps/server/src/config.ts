import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MANUAL_SCHEDULE, METRICS, SERVER_SCHEDULE } from '@fleetpmap/db';
import { MAX_COMPRESSED_BODY_BYTES, MAX_INFLATED_BODY_BYTES } from '@fleetpmap/protocol';
import { environmentView, SERVER_ENVIRONMENT } from '@fleetpmap/protocol/environment';
import { hostGlobProblem } from '@fleetpmap/protocol/host-glob';
import { z } from 'zod';
import { assertFiresSometime } from './reports/cron.ts';

/** Every FLEETPMAP_ variable the server reads: `loadConfig` can read no other. */
export { SERVER_ENVIRONMENT };

export const DEFAULT_LISTEN = '127.0.0.1:4680';

/** Every day at 06:00 in the report's time zone: read at the start of the working day. */
export const DEFAULT_REPORT_SCHEDULE = '0 6 * * *';

/** `$XDG_DATA_HOME/fleetpmap`, else `~/.local/share/fleetpmap`: the admin token and PGlite live here. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME;
  const base = xdg?.startsWith('/') ? xdg : join(homedir(), '.local', 'share');
  return join(base, 'fleetpmap');
}

const listenSchema = z.string().transform((value, ctx) => {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || !Number.isInteger(port) || port > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not HOST:PORT (e.g. 127.0.0.1:4680, [::1]:0)`,
    });
    return z.NEVER;
  }
  return { host, port };
});

const positiveInt = z.coerce.number().int().positive();

/**
 * The default budget of request bodies in flight, in bodies at the per-request inflated maximum:
 * 2 × 64 MiB = 128 MiB with the default limits. One body at the maximum always fits beside
 * others; a typical push is far smaller (a full map of 3,000 mappings is 1.7 MiB of JSON, 0.1 MiB
 * gzipped), so 128 MiB admits about 75 of those at once, more than two cores can parse and store.
 * Measured, the server holds 3 to 7 bytes per byte of body in flight (the text, the parsed
 * objects, the validated copy), so 128 MiB of bodies is at most about 0.9 GB above the idle RSS.
 */
const BODIES_AT_THE_MAXIMUM_IN_FLIGHT = 2;

/**
 * Connections per server process. A held connection costs about 10 KB of memory (3,000 sockets
 * with a trickling body: +31 MB) but a file descriptor each; 10,000 leaves room under the usual
 * limit of open files (Node raises its soft limit to the hard limit at start).
 */
const DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * Connections per remote address, an IPv6 one counted by its /64 (a host is usually handed a
 * whole /64 and can send from any address in it: connections.ts, `capKey`). An agent holds its
 * connection for one push plus Node's 5 s keep-alive, every 30 s (its default interval), so a
 * fleet behind one NAT address, or in one IPv6 /64, holds about a sixth of its agents' number of
 * connections at once: 1,000 lets about 6,000 agents share one address, while one client can no
 * longer hold thousands. Behind a proxy every connection comes from the proxy's address: raise
 * it, or turn it off with 0.
 */
const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 1_000;

/**
 * A request's headers and body must have arrived 60 s after it started: twice the agent's own
 * push timeout (30 s), and the CLI's request timeout. An 8 MiB body (the wire maximum) needs
 * 1.1 Mbit/s to make it.
 */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

/** A body that stalls this long is abandoned (408): longer than TCP's first retransmissions. */
const DEFAULT_BODY_IDLE_TIMEOUT_MS = 15_000;
/**
 * A timer's period: Node runs a timer of more than 2^31 − 1 ms (24.8 days) after 1 ms, so a
 * longer one would run a job in a tight loop instead of rarely; under 100 ms is nearly one too.
 */
const intervalMs = z.coerce
  .number()
  .int()
  .min(100, 'at least 100 ms')
  .max(2_147_483_647, 'at most 2147483647 ms (24.8 days): a longer timer fires at once');

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const MAX_VERDICT_WINDOW_MS = 31 * UNIT_MS.d;

/** `1h,6h,24h,7d` → milliseconds; an empty list turns stored verdicts off. */
const windowList = z.string().transform((value, ctx) => {
  const out: number[] = [];
  for (const part of value.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const match = /^(\d{1,4})([mhd])$/.exec(part);
    const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
    if (!(ms >= 5 * UNIT_MS.m && ms <= MAX_VERDICT_WINDOW_MS)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${part}" is not a window from 5m to 31d (e.g. 30m, 6h, 7d)`,
      });
      return z.NEVER;
    }
    if (!out.includes(ms)) out.push(ms);
  }
  if (out.length > 8) {
    ctx.addIssue({ code: 'custom', message: 'at most 8 windows' });
    return z.NEVER;
  }
  return out;
});

/** One window length, `30m`, `24h`, `7d`, as for the verdict windows. */
const windowLength = windowList.pipe(
  z
    .array(z.number())
    .length(1, 'one window (e.g. 24h)')
    .transform((l) => l[0] as number),
);

/** A cron pattern (5 or 6 fields, croner's syntax), or `off`. */
const cronPattern = z.string().transform((value, ctx) => {
  const pattern = value.trim();
  if (pattern === 'off') return null;
  try {
    assertFiresSometime(pattern);
    return pattern;
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a cron pattern or "off" (${(error as Error).message})`,
    });
    return z.NEVER;
  }
});

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IANA time zone (e.g. UTC, Europe/Berlin)' },
);

/** Where reports are POSTed: http(s) only, and no credentials in the URL (they would be logged). */
const webhookUrl = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .refine((u) => new URL(u).username === '' && new URL(u).password === '', {
    message: 'must not carry credentials; sign with FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE',
  });

/**
 * One more scheduled report, from `FLEETPMAP_REPORTS_FILE` (a JSON array of these): a team's own
 * schedule over its own hosts, to its own webhook (the server's webhook when it names none).
 */
const teamReport = z.strictObject({
  /** the schedule's name: it names the reports in `report list` */
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, - and _, at most 63')
    .refine((n) => n !== SERVER_SCHEDULE && n !== MANUAL_SCHEDULE, {
      message: `"${SERVER_SCHEDULE}" and "${MANUAL_SCHEDULE}" are taken`,
    }),
  schedule: cronPattern.pipe(
    z.string({ error: 'a cron pattern (a team schedule is never "off")' }),
  ),
  timeZone: timeZone.default('UTC'),
  window: windowLength.default(86_400_000),
  metric: z.enum(METRICS).default('anon'),
  /** a host glob as `report run --host` takes: malformed, it is refused at startup */
  hosts: z
    .string()
    .min(1)
    .max(253)
    .superRefine((glob, ctx) => {
      const problem = glob.length > 253 ? null : hostGlobProblem(glob);
      if (problem !== null) ctx.addIssue({ code: 'custom', message: `host glob: ${problem}` });
    })
    .optional(),
  labels: z
    .record(z.string().min(1).max(128), z.string().max(256))
    .refine((r) => Object.keys(r).length <= 32, { message: 'at most 32 labels' })
    .optional(),
  webhookUrl: webhookUrl.optional(),
  webhookSecretFile: z.string().min(1).optional(),
});

export type TeamReportConfig = z.infer<typeof teamReport>;

/** The team schedules: at most 32, each name once, a secret file only beside a webhook. */
const teamReports = z
  .array(teamReport)
  .max(32)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((r, i) => {
      if (seen.has(r.name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${r.name}" is used twice` });
      }
      seen.add(r.name);
      if (r.webhookSecretFile !== undefined && r.webhookUrl === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'webhookSecretFile'],
          message: 'needs a webhookUrl of its own',
        });
      }
    });
  });

const metricList = z
  .string()
  .transform((value) => [...new Set(value.split(',').map((p) => p.trim()))].filter((p) => p))
  .pipe(z.array(z.enum(METRICS)));

const configSchema = z
  .strictObject({
    /** postgres:// URL; absent means embedded PGlite in `<dataDir>/pglite` */
    databaseUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
      .optional(),
    dataDir: z.string().min(1),
    listen: listenSchema,
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    /** bytes as received (compressed when gzip) */
    maxBodyBytes: positiveInt,
    /** bytes after gzip inflation: the cap that defeats gzip bombs */
    maxInflatedBytes: positiveInt,
    /**
     * Bytes of request bodies (after inflation) one server process reads and holds at once; a
     * body that does not fit beside those in flight is answered 429 before it is read. At least
     * maxInflatedBytes, so that one body at the per-request maximum always fits.
     */
    maxBodyBytesInFlight: positiveInt.optional(),
    /** connections one server process holds open at once; past it a new one is closed at once */
    maxConnections: positiveInt,
    /** connections one remote address (IPv6: one /64) may hold at once in one process; 0: none */
    maxConnectionsPerAddress: z.coerce.number().int().min(0),
    /** time for a request's headers and body to arrive in full (408 past it) */
    requestTimeoutMs: z.coerce
      .number()
      .int()
      .min(10_000, 'at least 10000 ms (the headers alone may take 10 s)')
      .max(2_147_483_647, 'at most 2147483647 ms'),
    /** longest wait for the next byte of a request body (408 past it) */
    bodyIdleTimeoutMs: intervalMs,
    /** requests per second per token, and the burst a token may spend at once */
    rateLimitPerSec: z.coerce.number().positive(),
    rateLimitBurst: positiveInt,
    /** how often partition maintenance and retention run */
    maintenanceIntervalMs: intervalMs,
    /** server processes sharing the listening socket (Postgres only) */
    workers: positiveInt.max(64),
    /** how often new samples are rolled up into the 5-minute and hourly aggregates */
    rollupIntervalMs: intervalMs,
    /** windows whose leak verdicts are computed after the rollup, so `top` over them is a read */
    verdictWindowsMs: windowList,
    /** metrics those verdicts are computed for */
    verdictMetrics: metricList,
    /** the scheduled fleet leak report; `schedule` null turns it off */
    report: z.strictObject({
      schedule: cronPattern,
      timeZone,
      windowMs: windowLength,
      metric: z.enum(METRICS),
      webhookUrl: webhookUrl.optional(),
      /** a file holding the HMAC secret that signs webhook deliveries */
      webhookSecretFile: z.string().min(1).optional(),
      /** how often each server process looks for a due report or delivery */
      tickMs: intervalMs,
    }),
    /** more scheduled reports, each over some hosts (FLEETPMAP_REPORTS_FILE) */
    teamReports,
    /** days each kind of data is kept; unset ones keep the storage defaults */
    retention: z.strictObject({
      samplesDays: positiveInt.optional(),
      mapsDays: positiveInt.optional(),
      aggregates5mDays: positiveInt.optional(),
      aggregates1hDays: positiveInt.optional(),
      reportsDays: positiveInt.optional(),
    }),
  })
  .transform((config, ctx) => {
    const maxBodyBytesInFlight =
      config.maxBodyBytesInFlight ?? BODIES_AT_THE_MAXIMUM_IN_FLIGHT * config.maxInflatedBytes;
    if (maxBodyBytesInFlight < config.maxInflatedBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxBodyBytesInFlight'],
        message: `at least FLEETPMAP_MAX_INFLATED_BYTES (${config.maxInflatedBytes}), so that one body at the per-request maximum fits`,
      });
      return z.NEVER;
    }
    return { ...config, maxBodyBytesInFlight };
  });

export type ServerConfig = z.infer<typeof configSchema>;

export type ConfigInput = {
  database?: string | undefined;
  dataDir?: string | undefined;
  listen?: string | undefined;
  workers?: string | undefined;
};

/** Flags override environment variables, which override defaults. */
export function loadConfig(
  flags: ConfigInput = {},
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const vars = environmentView(SERVER_ENVIRONMENT, env);
  const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  const result = configSchema.safeParse({
    databaseUrl: nonEmpty(flags.database) ?? nonEmpty(vars.FLEETPMAP_DATABASE_URL),
    dataDir: nonEmpty(flags.dataDir) ?? nonEmpty(vars.FLEETPMAP_DATA_DIR) ?? defaultDataDir(env),
    listen: nonEmpty(flags.listen) ?? nonEmpty(vars.FLEETPMAP_LISTEN) ?? DEFAULT_LISTEN,
    logLevel: nonEmpty(vars.FLEETPMAP_LOG_LEVEL) ?? 'info',
    maxBodyBytes: nonEmpty(vars.FLEETPMAP_MAX_BODY_BYTES) ?? MAX_COMPRESSED_BODY_BYTES,
    maxInflatedBytes: nonEmpty(vars.FLEETPMAP_MAX_INFLATED_BYTES) ?? MAX_INFLATED_BODY_BYTES,
    maxBodyBytesInFlight: nonEmpty(vars.FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT),
    maxConnections: nonEmpty(vars.FLEETPMAP_MAX_CONNECTIONS) ?? DEFAULT_MAX_CONNECTIONS,
    maxConnectionsPerAddress:
      nonEmpty(vars.FLEETPMAP_MAX_CONNECTIONS_PER_ADDRESS) ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    requestTimeoutMs: nonEmpty(vars.FLEETPMAP_REQUEST_TIMEOUT_MS) ?? DEFAULT_REQUEST_TIMEOUT_MS,
    bodyIdleTimeoutMs:
      nonEmpty(vars.FLEETPMAP_BODY_IDLE_TIMEOUT_MS) ?? DEFAULT_BODY_IDLE_TIMEOUT_MS,
    rateLimitPerSec: nonEmpty(vars.FLEETPMAP_RATE_LIMIT_PER_SEC) ?? 100,
    rateLimitBurst: nonEmpty(vars.FLEETPMAP_RATE_LIMIT_BURST) ?? 1000,
    maintenanceIntervalMs: nonEmpty(vars.FLEETPMAP_MAINTENANCE_INTERVAL_MS) ?? 3_600_000,
    rollupIntervalMs: nonEmpty(vars.FLEETPMAP_ROLLUP_INTERVAL_MS) ?? 60_000,
    verdictWindowsMs: vars.FLEETPMAP_VERDICT_WINDOWS ?? '1h,6h,24h,7d',
    verdictMetrics: vars.FLEETPMAP_VERDICT_METRICS ?? 'anon',
    workers: nonEmpty(flags.workers) ?? nonEmpty(vars.FLEETPMAP_WORKERS) ?? 1,
    report: Object.fromEntries(
      Object.entries({
        schedule: nonEmpty(vars.FLEETPMAP_REPORT_SCHEDULE) ?? DEFAULT_REPORT_SCHEDULE,
        timeZone: nonEmpty(vars.FLEETPMAP_REPORT_TIMEZONE) ?? 'UTC',
        windowMs: nonEmpty(vars.FLEETPMAP_REPORT_WINDOW) ?? '24h',
        metric: nonEmpty(vars.FLEETPMAP_REPORT_METRIC) ?? 'anon',
        webhookUrl: nonEmpty(vars.FLEETPMAP_REPORT_WEBHOOK_URL),
        webhookSecretFile: nonEmpty(vars.FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE),
        tickMs: nonEmpty(vars.FLEETPMAP_REPORT_TICK_MS) ?? 30_000,
      }).filter(([, v]) => v !== undefined),
    ),
    teamReports: readTeamReports(nonEmpty(vars.FLEETPMAP_REPORTS_FILE)),
    retention: Object.fromEntries(
      Object.entries({
        samplesDays: vars.FLEETPMAP_RETENTION_SAMPLES_DAYS,
        mapsDays: vars.FLEETPMAP_RETENTION_MAPS_DAYS,
        aggregates5mDays: vars.FLEETPMAP_RETENTION_AGGREGATES_5M_DAYS,
        aggregates1hDays: vars.FLEETPMAP_RETENTION_AGGREGATES_1H_DAYS,
        reportsDays: vars.FLEETPMAP_RETENTION_REPORTS_DAYS,
      }).filter(([, v]) => nonEmpty(v) !== undefined),
    ),
  });
  if (result.success && result.data.workers > 1 && result.data.databaseUrl === undefined) {
    throw new ConfigError(
      'invalid configuration: workers: more than one needs a postgres:// database',
    );
  }
  if (result.success && result.data.report.webhookSecretFile && !result.data.report.webhookUrl) {
    throw new ConfigError(
      'invalid configuration: report.webhookSecretFile: set FLEETPMAP_REPORT_WEBHOOK_URL too',
    );
  }
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      `invalid configuration: ${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return result.data;
}

/** The JSON of the team schedules file, or no schedules without one; read once, at start. */
function readTeamReports(file: string | undefined): unknown {
  if (file === undefined) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the reports file ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the reports file ${file} is not JSON: ${(error as Error).message}`);
  }
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
