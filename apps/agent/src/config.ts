import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LIMITS, PATTERNS } from '@fleetpmap/protocol';
import {
  AGENT_ENVIRONMENT,
  type EnvironmentView,
  environmentView,
} from '@fleetpmap/protocol/environment';
import { DEFAULT_MAX_BODY_BYTES } from './snapshot.ts';

/** Every FLEETPMAP_ variable the agent reads: `resolveConfig` can read no other. */
export { AGENT_ENVIRONMENT };

/** A config value that could not be accepted; the entry point prints it and exits with 2. */
export class ConfigError extends Error {
  readonly code = 'CONFIG';
  readonly retryable = false;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The resolved configuration: file, environment and flags merged, checked, defaults filled in. */
export interface AgentConfig {
  server?: string;
  token?: string;
  /**
   * Where the agent token lives. When it does not exist yet and `enrollToken` is set, the agent
   * enrolls at start and saves the token it is given here (mode 0600) for every later start.
   */
  tokenFile?: string;
  /** The fleet's shared enroll token, traded once for an agent token of this host. */
  enrollToken?: string;
  once: boolean;
  output?: string;
  full: boolean;
  stats: boolean;
  procRoot: string;
  hostName: string;
  labels: Record<string, string>;
  /** Tier 1 (stat + status of every process). */
  cheapIntervalMs: number;
  /** Tier 2 (smaps_rollup), also read at once for processes whose anonymous memory grows. */
  rollupIntervalMs: number;
  /** Tier 3 (full smaps), also read for growth suspects. */
  fullIntervalMs: number;
  /** Anonymous growth (RssAnon + VmSwap, KiB) since the last rollup that triggers one at once. */
  growthTriggerKb: number;
  /** A process whose rollup/smaps read takes longer than this is read less often. */
  readBudgetMs: number;
  /** Expensive reads stop for this cycle once the cycle has run this long. */
  cycleBudgetMs: number;
  /** Processes bigger than this (VmRSS, KiB) get their expensive tiers backed off. */
  maxRssKb: number;
  /** Processes with more mappings than this (as last counted) get their full map backed off. */
  maxMappings: number;
  /** Backoff doubles the interval up to this many times. */
  maxBackoffLevel: number;
  spoolDir?: string;
  spoolMaxBytes: number;
  /** Retryable push failures wait at most this long (exponential backoff with jitter up to it). */
  retryMaxDelayMs: number;
  /** Body limit for one push (uncompressed JSON bytes); bigger snapshots are split. */
  maxBodyBytes?: number;
  logLevel: LogLevel;
}

/** The protocol's own: a name the server would refuse is refused at start. */
const { hostName: HOST_NAME, labelKey: LABEL_KEY } = PATTERNS;

/*
 * The checks are written out rather than declared with a schema library: the config is flat and
 * checked once at start, while a schema library stays resident for the agent's whole life (zod
 * was about a sixth of the agent's memory).
 */
type Check = (v: unknown) => string | undefined;

const str =
  (min: number, max: number, pattern?: RegExp, patternText?: string): Check =>
  (v) => {
    if (typeof v !== 'string') return 'expected a string';
    if (v.length < min) return `must be at least ${min} character${min === 1 ? '' : 's'}`;
    if (v.length > max) return `must be at most ${max} characters`;
    if (pattern && !pattern.test(v)) return patternText ?? `must match ${pattern}`;
    return undefined;
  };

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return 'expected an integer';
    if (v < min) return `must be >= ${min}`;
    if (v > max) return `must be <= ${max}`;
    return undefined;
  };

const positiveInt = int(1);
const positiveNumber: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'expected a positive number';
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'expected true or false');

const httpUrl: Check = (v) => {
  if (typeof v !== 'string') return 'expected a string';
  const u = URL.parse(v);
  if (u === null) return 'not a URL';
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'must be an http(s) URL';
  if (u.hostname === '') return 'URL has no host';
  return undefined;
};

const labelKey = str(1, LIMITS.labelKeyChars, LABEL_KEY, 'label keys are identifiers');
const labelValue = str(0, LIMITS.labelValueChars);
const labels: Check = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'expected an object';
  const n = Object.keys(v).length;
  if (n > LIMITS.labelsPerHost) return `at most ${LIMITS.labelsPerHost} labels, got ${n}`;
  for (const [k, val] of Object.entries(v)) {
    const bad = labelKey(k) ?? labelValue(val);
    if (bad) return `${k}: ${bad}`;
  }
  return undefined;
};

const logLevel: Check = (v) =>
  (LOG_LEVELS as readonly unknown[]).includes(v) ? undefined : `one of ${LOG_LEVELS.join(', ')}`;

/** Every accepted key with its check and default; a key without a default is optional. */
const FIELDS: Record<keyof AgentConfig, { check: Check; default?: unknown }> = {
  server: { check: httpUrl },
  token: { check: str(1, 4096) },
  tokenFile: { check: str(1, 4096) },
  enrollToken: { check: str(1, 4096) },
  once: { check: bool, default: false },
  output: { check: str(1, 4096) },
  full: { check: bool, default: false },
  stats: { check: bool, default: false },
  procRoot: { check: str(1, 4096), default: '/proc' },
  hostName: {
    check: str(
      1,
      LIMITS.hostNameChars,
      HOST_NAME,
      'letters, digits, dot, dash and underscore only',
    ),
  },
  labels: { check: labels, default: {} },
  cheapIntervalMs: { check: positiveInt, default: 30_000 },
  rollupIntervalMs: { check: positiveInt, default: 300_000 },
  fullIntervalMs: { check: positiveInt, default: 900_000 },
  growthTriggerKb: { check: positiveInt, default: 1024 },
  readBudgetMs: { check: positiveNumber, default: 200 },
  cycleBudgetMs: { check: positiveInt, default: 5_000 },
  maxRssKb: { check: positiveInt, default: 32 * 1024 * 1024 },
  maxMappings: { check: positiveInt, default: 20_000 },
  maxBackoffLevel: { check: int(0, 16), default: 5 },
  spoolDir: { check: str(1, 4096) },
  spoolMaxBytes: { check: positiveInt, default: 256 * 1024 * 1024 },
  retryMaxDelayMs: { check: int(1000, 3_600_000), default: 5 * 60_000 },
  // Above the default a part may pass the server's compressed limit: the flag can only lower it.
  maxBodyBytes: { check: int(64 * 1024, DEFAULT_MAX_BODY_BYTES) },
  logLevel: { check: logLevel, default: 'info' },
};
const REQUIRED: ReadonlySet<string> = new Set(['hostName']);

/** Checks a merged config object: unknown keys, wrong types and out-of-range values are refused. */
export function checkAgentConfig(input: Readonly<Record<string, unknown>>): AgentConfig {
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(FIELDS, key)) throw new ConfigError(`invalid ${key}: unknown setting`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(FIELDS)) {
    const v = input[key];
    if (v === undefined) {
      if (REQUIRED.has(key)) throw new ConfigError(`invalid ${key}: required`);
      if (field.default !== undefined) {
        out[key] = typeof field.default === 'object' ? { ...field.default } : field.default;
      }
      continue;
    }
    const bad = field.check(v);
    if (bad) throw new ConfigError(`invalid ${key}: ${bad}`);
    out[key] = v;
  }
  return out as unknown as AgentConfig;
}

/** What the command line gave; every field optional so absent flags fall through to env/file. */
export interface FlagValues {
  config?: string;
  server?: string;
  tokenFile?: string;
  enrollTokenFile?: string;
  once?: boolean;
  output?: string;
  full?: boolean;
  stats?: boolean;
  procRoot?: string;
  hostName?: string;
  label?: string[];
  cheapInterval?: string;
  rollupInterval?: string;
  fullInterval?: string;
  growthTriggerKb?: string;
  readBudget?: string;
  cycleBudget?: string;
  maxRssKb?: string;
  maxMappings?: string;
  spoolDir?: string;
  spoolMaxBytes?: string;
  retryMaxDelay?: string;
  maxBodyBytes?: string;
  logLevel?: string;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `30s`, `5m`, `1500ms`, `1h`, or plain milliseconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m?.[1])
    throw new ConfigError(`not a duration: ${JSON.stringify(text)} (e.g. 30s, 5m, 500ms)`);
  const ms = Number(m[1]) * (durationUnits[m[2] ?? 'ms'] ?? 1);
  if (!Number.isFinite(ms) || ms <= 0) throw new ConfigError(`duration must be positive: ${text}`);
  return Math.round(ms);
}

const sizeUnits: Record<string, number> = {
  '': 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/** `256M`, `1G`, `65536`: bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const mult = m ? sizeUnits[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m?.[1] || mult === undefined) throw new ConfigError(`not a size: ${JSON.stringify(text)}`);
  return Number(m[1]) * mult;
}

function parseIntFlag(name: string, text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`--${name} wants an integer, got ${text}`);
  return Number(text);
}

/** `k=v` pairs; the value may contain `=`. */
export function parseLabels(pairs: readonly string[]): Record<string, string> {
  // fromEntries defines own properties, so a key such as `__proto__` reaches the label check
  // instead of vanishing into the object's prototype.
  return Object.fromEntries(
    pairs.map((pair) => {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new ConfigError(`--label wants k=v, got ${JSON.stringify(pair)}`);
      return [pair.slice(0, eq), pair.slice(eq + 1)];
    }),
  );
}

/** What was accepted but deserves an operator's attention; logged once the logger exists. */
type Warnings = string[];

/**
 * Reads a token file. One that group or others may read (or write) is used, with a warning, as
 * ssh warns of an open key file: whoever can read it can push as this host. It is not refused: a
 * secret mounted by a container runtime often has such a mode, and the token is out already.
 */
function readSecret(path: string, what: string, warnings: Warnings): string {
  const fd = openSync(path, 'r');
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      warnings.push(
        `${what} ${path} is open to group or others (mode 0${mode.toString(8)}): anyone who can ` +
          `read it can use the token; chmod 600 ${path}`,
      );
    }
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function readSecretFile(path: string, warnings: Warnings, what = 'token file'): string {
  let text: string;
  try {
    text = readSecret(path, what, warnings);
  } catch (err) {
    throw new ConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token.length === 0) throw new ConfigError(`${what} ${path} is empty`);
  return token;
}

/** The token in `path`, or undefined when the file does not exist yet or is empty. */
function readSecretFileIfAny(path: string, warnings: Warnings): string | undefined {
  let text: string;
  try {
    text = readSecret(path, 'token file', warnings);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read token file ${path}: ${(err as Error).message}`);
  }
  return text.trim() || undefined;
}

type Partialish = Record<string, unknown>;

function fromFlags(f: FlagValues, warnings: Warnings): Partialish {
  const c: Partialish = {};
  if (f.server !== undefined) c.server = f.server;
  if (f.tokenFile !== undefined) Object.assign(c, { tokenFile: f.tokenFile, token: undefined });
  if (f.enrollTokenFile !== undefined) {
    c.enrollToken = readSecretFile(f.enrollTokenFile, warnings, 'enroll token file');
  }
  if (f.once !== undefined) c.once = f.once;
  if (f.output !== undefined) c.output = f.output;
  if (f.full !== undefined) c.full = f.full;
  if (f.stats !== undefined) c.stats = f.stats;
  if (f.procRoot !== undefined) c.procRoot = f.procRoot;
  if (f.hostName !== undefined) c.hostName = f.hostName;
  if (f.label !== undefined && f.label.length > 0) c.labels = parseLabels(f.label);
  if (f.cheapInterval !== undefined) c.cheapIntervalMs = parseDurationMs(f.cheapInterval);
  if (f.rollupInterval !== undefined) c.rollupIntervalMs = parseDurationMs(f.rollupInterval);
  if (f.fullInterval !== undefined) c.fullIntervalMs = parseDurationMs(f.fullInterval);
  if (f.growthTriggerKb !== undefined)
    c.growthTriggerKb = parseIntFlag('growth-trigger-kb', f.growthTriggerKb);
  if (f.readBudget !== undefined) c.readBudgetMs = parseDurationMs(f.readBudget);
  if (f.cycleBudget !== undefined) c.cycleBudgetMs = parseDurationMs(f.cycleBudget);
  if (f.maxRssKb !== undefined) c.maxRssKb = parseIntFlag('max-rss-kb', f.maxRssKb);
  if (f.maxMappings !== undefined) c.maxMappings = parseIntFlag('max-mappings', f.maxMappings);
  if (f.spoolDir !== undefined) c.spoolDir = f.spoolDir;
  if (f.spoolMaxBytes !== undefined) c.spoolMaxBytes = parseBytes(f.spoolMaxBytes);
  if (f.retryMaxDelay !== undefined) c.retryMaxDelayMs = parseDurationMs(f.retryMaxDelay);
  if (f.maxBodyBytes !== undefined) c.maxBodyBytes = parseBytes(f.maxBodyBytes);
  if (f.logLevel !== undefined) c.logLevel = f.logLevel;
  return c;
}

type AgentEnvironment = EnvironmentView<(typeof AGENT_ENVIRONMENT)[number]>;

function fromEnv(vars: AgentEnvironment, warnings: Warnings): Partialish {
  const c: Partialish = {};
  // An empty flag is refused; an empty variable is what `FOO=` in a unit or a manifest leaves
  // behind: it is not taken, and saying so beats falling back to the default in silence.
  for (const name of AGENT_ENVIRONMENT) {
    if (vars[name] === '') warnings.push(`${name} is set but empty: ignored, as if not set`);
  }
  if (vars.FLEETPMAP_SERVER) c.server = vars.FLEETPMAP_SERVER;
  // A token file named here overrides a token the config file holds, as a flag's does.
  if (vars.FLEETPMAP_TOKEN_FILE) {
    Object.assign(c, { tokenFile: vars.FLEETPMAP_TOKEN_FILE, token: undefined });
  }
  if (vars.FLEETPMAP_TOKEN) Object.assign(c, { token: vars.FLEETPMAP_TOKEN, tokenFile: undefined });
  if (vars.FLEETPMAP_ENROLL_TOKEN_FILE) {
    c.enrollToken = readSecretFile(vars.FLEETPMAP_ENROLL_TOKEN_FILE, warnings, 'enroll token file');
  }
  if (vars.FLEETPMAP_HOST_NAME) c.hostName = vars.FLEETPMAP_HOST_NAME;
  if (vars.FLEETPMAP_PROC_ROOT) c.procRoot = vars.FLEETPMAP_PROC_ROOT;
  if (vars.FLEETPMAP_SPOOL_DIR) c.spoolDir = vars.FLEETPMAP_SPOOL_DIR;
  if (vars.FLEETPMAP_LOG_LEVEL) c.logLevel = vars.FLEETPMAP_LOG_LEVEL;
  return c;
}

/**
 * The config file is JSON with the same keys as the resolved config (`cheapIntervalMs`, `labels`,
 * …); `tokenFile` is accepted there too so the token itself need not sit in it.
 */
function fromFile(path: string, warnings: Warnings): Partialish {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  const c: Partialish = { ...(raw as Partialish) };
  if (typeof c.enrollTokenFile === 'string') {
    c.enrollToken = readSecretFile(c.enrollTokenFile, warnings, 'enroll token file');
  }
  delete c.enrollTokenFile;
  return c;
}

/** systemd's StateDirectory= when run as a unit, otherwise a dot folder in the home directory. */
function defaultSpoolDir(env: NodeJS.ProcessEnv): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  if (state) return join(state, 'spool');
  return join(env.HOME || '/tmp', '.fleetpmap', 'agent-spool');
}

/** Where an enrolled agent keeps its token when no token file is named: beside the spool. */
function defaultTokenFile(env: NodeJS.ProcessEnv): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  if (state) return join(state, 'agent-token');
  return join(env.HOME || '/tmp', '.fleetpmap', 'agent-token');
}

/**
 * The token comes from the highest source that names one. A named token file must hold it,
 * unless the agent can enroll: then a missing or empty file is where the new token will go.
 */
function resolveToken(merged: Partialish, env: NodeJS.ProcessEnv, warnings: Warnings): void {
  if (merged.token !== undefined) return;
  const enrolls = merged.enrollToken !== undefined;
  if (typeof merged.tokenFile === 'string') {
    const token = enrolls
      ? readSecretFileIfAny(merged.tokenFile, warnings)
      : readSecretFile(merged.tokenFile, warnings);
    if (token !== undefined) merged.token = token;
  } else if (enrolls) {
    const tokenFile = defaultTokenFile(env);
    merged.tokenFile = tokenFile;
    const token = readSecretFileIfAny(tokenFile, warnings);
    if (token !== undefined) merged.token = token;
  }
}

/**
 * Flags override the environment, which overrides the config file. What is accepted but unsafe
 * (a token file others can read) is added to `warnings`.
 */
export function resolveConfig(
  flags: FlagValues,
  env: NodeJS.ProcessEnv = process.env,
  warnings: string[] = [],
): AgentConfig {
  const vars = environmentView(AGENT_ENVIRONMENT, env);
  const filePath = flags.config ?? vars.FLEETPMAP_AGENT_CONFIG;
  const merged: Partialish = {
    hostName: hostname(),
    spoolDir: defaultSpoolDir(env),
    ...(filePath ? fromFile(filePath, warnings) : {}),
    ...fromEnv(vars, warnings),
    ...fromFlags(flags, warnings),
  };
  resolveToken(merged, env, warnings);
  const cfg = checkAgentConfig(merged);
  if (cfg.output === undefined && cfg.server === undefined) {
    throw new ConfigError('no server: pass --server URL (or FLEETPMAP_SERVER), or --output FILE');
  }
  if (cfg.output === undefined && cfg.token === undefined && cfg.enrollToken === undefined) {
    // Every push would be refused with 401.
    throw new ConfigError(
      'no token: pass --token-file FILE (or FLEETPMAP_TOKEN_FILE, FLEETPMAP_TOKEN), or ' +
        '--enroll-token-file FILE to enroll this host',
    );
  }
  return cfg;
}

/**
 * What the config names on this host must be usable before the agent starts: the proc root a
 * readable directory, an `--output` file writable (it is created, empty, when it does not exist).
 */
export function checkLocalPaths(cfg: AgentConfig): void {
  try {
    if (!statSync(cfg.procRoot).isDirectory()) throw new Error('not a directory');
    accessSync(cfg.procRoot, constants.R_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError(
      `invalid procRoot: cannot read ${cfg.procRoot}: ${(err as Error).message}`,
    );
  }
  if (cfg.output !== undefined && cfg.output !== '-') {
    try {
      closeSync(openSync(cfg.output, 'a', 0o600));
    } catch (err) {
      throw new ConfigError(
        `invalid output: cannot write ${cfg.output}: ${(err as Error).message}`,
      );
    }
  }
}
