import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { cliEnvironment } from '../environment.ts';
import { FleetCommandError } from './errors.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:4680';
/** How long one request may take, answer included, before the command gives up on the server. */
export const DEFAULT_TIMEOUT_SECONDS = 60;

/** `$XDG_CONFIG_HOME/fleetpmap/config.json`, else `~/.config/fleetpmap/config.json`. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg?.startsWith('/') ? xdg : join(homedir(), '.config');
  return join(base, 'fleetpmap', 'config.json');
}

const configFileSchema = z.strictObject({
  server: z.url().optional(),
  token: z.string().min(1).optional(),
  /** a file holding the token, e.g. the server's admin-token file */
  tokenFile: z.string().min(1).optional(),
  /** seconds one request may take */
  timeout: z.number().positive().max(86_400).optional(),
});

export type ConnectionFlags = {
  server?: string | undefined;
  token?: string | undefined;
  tokenFile?: string | undefined;
  config?: string | undefined;
  /** seconds, as given on the command line */
  timeout?: string | undefined;
};

export type Connection = { server: string; token: string | undefined; timeoutMs: number };

const serverSchema = z
  .url({ protocol: /^https?$/, error: 'the server must be an http:// or https:// URL' })
  .transform((u) => u.replace(/\/+$/, ''));

/**
 * Where to reach the server, with which token and how long to wait for it: flags, then
 * FLEETPMAP_SERVER / FLEETPMAP_TOKEN / FLEETPMAP_TOKEN_FILE / FLEETPMAP_TIMEOUT, then the config
 * file.
 */
export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const vars = cliEnvironment(env);
  const configPath = flags.config ?? vars.FLEETPMAP_CONFIG ?? defaultConfigPath(env);
  const file = readConfigFile(configPath, flags.config !== undefined);
  const server = serverSchema.safeParse(
    flags.server ?? nonEmpty(vars.FLEETPMAP_SERVER) ?? file.server ?? DEFAULT_SERVER,
  );
  if (!server.success) {
    throw new FleetCommandError(server.error.issues[0]?.message ?? 'invalid server URL');
  }
  let token = flags.token ?? nonEmpty(vars.FLEETPMAP_TOKEN);
  const tokenFile =
    token === undefined
      ? (flags.tokenFile ?? nonEmpty(vars.FLEETPMAP_TOKEN_FILE) ?? file.tokenFile)
      : undefined;
  if (token === undefined && tokenFile === undefined) token = file.token;
  if (tokenFile !== undefined) token = readTokenFile(tokenFile);
  const timeoutSeconds =
    flags.timeout !== undefined
      ? parseSeconds(flags.timeout, '--timeout')
      : vars.FLEETPMAP_TIMEOUT !== undefined && vars.FLEETPMAP_TIMEOUT !== ''
        ? parseSeconds(vars.FLEETPMAP_TIMEOUT, 'FLEETPMAP_TIMEOUT')
        : (file.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  return { server: server.data, token, timeoutMs: Math.max(1, Math.round(timeoutSeconds * 1000)) };
}

/** A request timeout in seconds: `60`, `0.5`. */
function parseSeconds(text: string, what: string): number {
  const seconds = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds > 0) || seconds > 86_400) {
    throw new FleetCommandError(`${what} "${text}": expected a number of seconds, such as 60`);
  }
  return seconds;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function readConfigFile(path: string, required: boolean): z.infer<typeof configFileSchema> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new FleetCommandError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FleetCommandError(`config file ${path} is not JSON: ${(error as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetCommandError(
      `config file ${path}: ${issue?.path.join('.') || 'top level'}: ${issue?.message}`,
    );
  }
  return parsed.data;
}

function readTokenFile(path: string): string {
  try {
    const token = readFileSync(path, 'utf8').trim();
    if (token === '') throw new FleetCommandError(`token file ${path} is empty`);
    return token;
  } catch (error) {
    if (error instanceof FleetCommandError) throw error;
    throw new FleetCommandError(`cannot read token file ${path}: ${(error as Error).message}`);
  }
}
