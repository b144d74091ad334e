import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

/** A config value that could not be accepted; the entry point prints it and exits with 2. */
export class ConfigError extends Error {
  readonly code = 'CONFIG';
  readonly retryable = false;
}

const positiveMs = z.number().int().positive();

/** Host names travel in URLs, logs and SQL keys: keep them to what DNS and shells treat as plain. */
const hostNameSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, dot, dash and underscore only');

const labelKey = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'label keys are identifiers');

export const agentConfigSchema = z.strictObject({
  server: z.url({ protocol: /^https?$/ }).optional(),
  token: z.string().min(1).max(4096).optional(),
  once: z.boolean().default(false),
  output: z.string().min(1).optional(),
  full: z.boolean().default(false),
  stats: z.boolean().default(false),
  procRoot: z.string().min(1).default('/proc'),
  hostName: hostNameSchema,
  labels: z.record(labelKey, z.string().max(255)).default({}),
  /** Tier 1 (stat + status of every process). */
  cheapIntervalMs: positiveMs.default(30_000),
  /** Tier 2 (smaps_rollup), also read at once for processes whose anonymous memory grows. */
  rollupIntervalMs: positiveMs.default(300_000),
  /** Tier 3 (full smaps), also read for growth suspects. */
  fullIntervalMs: positiveMs.default(900_000),
  /** Anonymous growth (RssAnon + VmSwap, KiB) since the last rollup that triggers one at once. */
  growthTriggerKb: z.number().int().positive().default(1024),
  /** A process whose rollup/smaps read takes longer than this is read less often. */
  readBudgetMs: z.number().positive().default(200),
  /** Expensive reads stop for this cycle once the cycle has run this long. */
  cycleBudgetMs: positiveMs.default(5_000),
  /** Processes bigger than this (VmRSS, KiB) get their expensive tiers backed off. */
  maxRssKb: z
    .number()
    .int()
    .positive()
    .default(32 * 1024 * 1024),
  /** Processes with more mappings than this (as last counted) get their full map backed off. */
  maxMappings: z.number().int().positive().default(20_000),
  /** Backoff doubles the interval up to this many times. */
  maxBackoffLevel: z.number().int().min(0).max(16).default(5),
  spoolDir: z.string().min(1).optional(),
  spoolMaxBytes: z
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  /** Body limit for one push (uncompressed JSON bytes); bigger snapshots are split. */
  maxBodyBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** What the command line gave; every field optional so absent flags fall through to env/file. */
export interface FlagValues {
  config?: string;
  server?: string;
  tokenFile?: string;
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
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--label wants k=v, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read token file ${path}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token.length === 0) throw new ConfigError(`token file ${path} is empty`);
  return token;
}

type Partialish = Record<string, unknown>;

function fromFlags(f: FlagValues): Partialish {
  const c: Partialish = {};
  if (f.server !== undefined) c.server = f.server;
  if (f.tokenFile !== undefined) c.token = readSecretFile(f.tokenFile);
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
  if (f.maxBodyBytes !== undefined) c.maxBodyBytes = parseBytes(f.maxBodyBytes);
  if (f.logLevel !== undefined) c.logLevel = f.logLevel;
  return c;
}

function fromEnv(env: NodeJS.ProcessEnv): Partialish {
  const c: Partialish = {};
  if (env.FLEETPMAP_SERVER) c.server = env.FLEETPMAP_SERVER;
  if (env.FLEETPMAP_TOKEN_FILE) c.token = readSecretFile(env.FLEETPMAP_TOKEN_FILE);
  if (env.FLEETPMAP_TOKEN) c.token = env.FLEETPMAP_TOKEN;
  if (env.FLEETPMAP_HOST_NAME) c.hostName = env.FLEETPMAP_HOST_NAME;
  if (env.FLEETPMAP_PROC_ROOT) c.procRoot = env.FLEETPMAP_PROC_ROOT;
  if (env.FLEETPMAP_SPOOL_DIR) c.spoolDir = env.FLEETPMAP_SPOOL_DIR;
  if (env.FLEETPMAP_LOG_LEVEL) c.logLevel = env.FLEETPMAP_LOG_LEVEL;
  return c;
}

/**
 * The config file is JSON with the same keys as the resolved config (`cheapIntervalMs`, `labels`,
 * …); `tokenFile` is accepted there too so the token itself need not sit in it.
 */
function fromFile(path: string): Partialish {
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
  if (typeof c.tokenFile === 'string') {
    c.token = readSecretFile(c.tokenFile);
  }
  delete c.tokenFile;
  return c;
}

/** systemd's StateDirectory= when run as a unit, otherwise a dot folder in the home directory. */
function defaultSpoolDir(env: NodeJS.ProcessEnv): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  if (state) return join(state, 'spool');
  return join(env.HOME || '/tmp', '.fleetpmap', 'agent-spool');
}

/** Flags override the environment, which overrides the config file. */
export function resolveConfig(
  flags: FlagValues,
  env: NodeJS.ProcessEnv = process.env,
): AgentConfig {
  const filePath = flags.config ?? env.FLEETPMAP_AGENT_CONFIG;
  const merged: Partialish = {
    hostName: hostname(),
    spoolDir: defaultSpoolDir(env),
    ...(filePath ? fromFile(filePath) : {}),
    ...fromEnv(env),
    ...fromFlags(flags),
  };
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'config';
    throw new ConfigError(`invalid ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const cfg = parsed.data;
  if (cfg.output === undefined && cfg.server === undefined) {
    throw new ConfigError('no server: pass --server URL (or FLEETPMAP_SERVER), or --output FILE');
  }
  return cfg;
}
