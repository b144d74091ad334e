import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FleetCommandError } from './errors.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:4680';

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
});

export type ConnectionFlags = {
  server?: string | undefined;
  token?: string | undefined;
  tokenFile?: string | undefined;
  config?: string | undefined;
};

export type Connection = { server: string; token: string | undefined };

const serverSchema = z
  .url({ protocol: /^https?$/, error: 'the server must be an http:// or https:// URL' })
  .transform((u) => u.replace(/\/+$/, ''));

/**
 * Where to reach the server and with which token: flags, then FLEETPMAP_SERVER / FLEETPMAP_TOKEN
 * / FLEETPMAP_TOKEN_FILE, then the config file.
 */
export function resolveConnection(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv = process.env,
): Connection {
  const configPath = flags.config ?? env.FLEETPMAP_CONFIG ?? defaultConfigPath(env);
  const file = readConfigFile(configPath, flags.config !== undefined);
  const server = serverSchema.safeParse(
    flags.server ?? nonEmpty(env.FLEETPMAP_SERVER) ?? file.server ?? DEFAULT_SERVER,
  );
  if (!server.success) {
    throw new FleetCommandError(server.error.issues[0]?.message ?? 'invalid server URL');
  }
  let token = flags.token ?? nonEmpty(env.FLEETPMAP_TOKEN);
  const tokenFile =
    token === undefined
      ? (flags.tokenFile ?? nonEmpty(env.FLEETPMAP_TOKEN_FILE) ?? file.tokenFile)
      : undefined;
  if (token === undefined && tokenFile === undefined) token = file.token;
  if (tokenFile !== undefined) token = readTokenFile(tokenFile);
  return { server: server.data, token };
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
