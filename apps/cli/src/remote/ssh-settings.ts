// Per-host SSH settings resolved the way OpenSSH does: command-line options first, then the first
// value found in ~/.ssh/config (or -F FILE), then /etc/ssh/ssh_config, then OpenSSH's defaults.
// See ssh_config(5). Parsing is ssh-config's; `Match exec` is not evaluated, so reading a config
// never runs a command.

import { globSync, readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import SSHConfig from 'ssh-config';

export type StrictHostKeyChecking = 'yes' | 'accept-new';

/** Options of the command line that shape connections. */
export interface SshOptions {
  /** `-F FILE`: read only this file (OpenSSH then skips the system-wide file too). */
  configFile: string | undefined;
  /** `-l USER` */
  user: string | undefined;
  /** `-p PORT` */
  port: number | undefined;
  /** `-i KEY`, in order. */
  identityFiles: string[];
  /** `--accept-new-host-keys`: record unknown host keys (never changed ones). */
  acceptNewHostKeys: boolean;
  /** `--connect-timeout SECONDS`, in ms; overrides ConnectTimeout. */
  connectTimeoutMs: number | undefined;
}

export interface HostSettings {
  /** The name the user typed (an alias in ssh_config, or the real name). */
  alias: string;
  hostName: string;
  port: number;
  user: string;
  identityFiles: string[];
  /** Whether only the identity files (not every agent key) may be offered. */
  identitiesOnly: boolean;
  /** ssh-agent socket, or null to not use an agent. */
  agentSocket: string | null;
  /** Jump hosts in order, each `[user@]host[:port]`, or empty. */
  proxyJump: string[];
  connectTimeoutMs: number;
  userKnownHostsFiles: string[];
  globalKnownHostsFiles: string[];
  strictHostKeyChecking: StrictHostKeyChecking;
  hashKnownHosts: boolean;
  /** Name to look up in known_hosts instead of the host name. */
  hostKeyAlias: string | null;
}

export class SshConfigError extends Error {
  readonly code = 'SSH_CONFIG';
  readonly retryable = false;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const SYSTEM_CONFIG = '/etc/ssh/ssh_config';
const DEFAULT_IDENTITIES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk'];
const CONFIG_MAX_BYTES = 1 << 20;

type Computed = Record<string, string | string[]>;

/** Loads the config files once; `resolve` is then pure and cheap per host. */
export class SshSettingsResolver {
  readonly #configs: SSHConfig[];
  readonly #options: SshOptions;
  readonly #home: string;
  readonly #localUser: string;

  constructor(options: SshOptions, env: NodeJS.ProcessEnv = process.env) {
    this.#options = options;
    this.#home = env.HOME ?? homedir();
    this.#localUser = env.USER ?? userInfo().username;
    const files =
      options.configFile !== undefined
        ? [options.configFile]
        : [join(this.#home, '.ssh', 'config'), SYSTEM_CONFIG];
    this.#configs = [];
    for (const file of files) {
      let text: string;
      try {
        const data = readFileSync(file);
        if (data.length > CONFIG_MAX_BYTES) throw new SshConfigError(`${file}: too large`);
        text = data.toString('utf8');
      } catch (error) {
        if (error instanceof SshConfigError) throw error;
        // OpenSSH insists that an explicit -F file exists; the default files are optional.
        if (file === options.configFile) {
          throw new SshConfigError(`Can't open user config file ${file}: ${errnoText(error)}`);
        }
        continue;
      }
      try {
        // Relative Include paths are relative to ~/.ssh for user files, /etc/ssh for the system's.
        const base = file === SYSTEM_CONFIG ? '/etc/ssh' : join(this.#home, '.ssh');
        this.#configs.push(SSHConfig.parse(expandIncludes(text, base, this.#home, 0)));
      } catch (error) {
        if (error instanceof SshConfigError) throw error;
        throw new SshConfigError(`${file}: ${(error as Error).message}`);
      }
    }
    this.#agentSocket = env.SSH_AUTH_SOCK ?? null;
  }

  readonly #agentSocket: string | null;

  /**
   * Settings for `alias`. `user`/`port` typed with the target (or a ProxyJump hop) win over
   * everything; -l, -p and -i apply to destinations only, as with OpenSSH's ProxyJump.
   */
  resolve(
    alias: string,
    given: { user?: string; port?: number; jump?: boolean } = {},
  ): HostSettings {
    const flags: Pick<SshOptions, 'user' | 'port' | 'identityFiles'> =
      given.jump === true ? { user: undefined, port: undefined, identityFiles: [] } : this.#options;
    const targetUser = given.user ?? flags.user;
    const merged: Computed = {};
    for (const config of this.#configs) {
      // By host name only: given a User, ssh-config copies it into the result, which would hide
      // the config's own User line. (So `Match user` blocks are not evaluated.)
      const computed = config.compute(alias, { ignoreCase: true, matchExec: false });
      for (const [key, value] of Object.entries(computed)) {
        if (key === 'host' || key === 'match') continue;
        const old = merged[key];
        if (old === undefined) merged[key] = value;
        else if (Array.isArray(old) && Array.isArray(value) && key === 'identityfile') {
          merged[key] = [...old, ...value];
        }
      }
    }
    const one = (key: string): string | undefined => {
      const value = merged[key];
      if (value === undefined) return undefined;
      return Array.isArray(value) ? value.join(' ') : value;
    };
    const many = (key: string): string[] => {
      const value = merged[key];
      if (value === undefined) return [];
      return (Array.isArray(value) ? value : [value]).flatMap((v) =>
        v.split(/\s+/).filter(Boolean),
      );
    };

    const hostName = expandHostName(one('hostname') ?? alias, alias);
    const user = targetUser ?? one('user') ?? this.#localUser;
    const port = given.port ?? flags.port ?? parsePort(one('port') ?? '22', alias);
    const tokens = {
      d: this.#home,
      u: this.#localUser,
      h: hostName,
      r: user,
      p: String(port),
      n: alias,
    };
    const expand = (path: string) => expandPath(path, tokens, this.#home);

    const configured = [...flags.identityFiles, ...listValue(merged.identityfile)];
    const identityFiles =
      configured.length > 0
        ? configured.map(expand)
        : DEFAULT_IDENTITIES.map((name) => join(this.#home, '.ssh', name));

    const identityAgent = one('identityagent');
    let agentSocket = this.#agentSocket;
    if (identityAgent !== undefined) {
      agentSocket =
        identityAgent.toLowerCase() === 'none'
          ? null
          : identityAgent === 'SSH_AUTH_SOCK'
            ? this.#agentSocket
            : expand(identityAgent);
    }

    const proxyCommand = one('proxycommand');
    if (proxyCommand !== undefined && proxyCommand.toLowerCase() !== 'none') {
      // Running it would mean executing a command from the config; connecting directly instead
      // would silently bypass the route the user configured.
      throw new SshConfigError(`${alias}: ProxyCommand is not supported (ProxyJump is)`);
    }
    const jump = one('proxyjump');
    const proxyJump = jump === undefined || jump.toLowerCase() === 'none' ? [] : jump.split(',');

    const timeoutText = one('connecttimeout');
    const connectTimeoutMs =
      this.#options.connectTimeoutMs ??
      (timeoutText !== undefined && /^[0-9]{1,6}$/.test(timeoutText) && Number(timeoutText) > 0
        ? Number(timeoutText) * 1000
        : DEFAULT_CONNECT_TIMEOUT_MS);

    const userKnown = many('userknownhostsfile');
    const globalKnown = many('globalknownhostsfile');
    // `no` and `off` would also accept *changed* keys in OpenSSH; here they only go as far as
    // accept-new, because a changed key is never accepted.
    const strictText = (one('stricthostkeychecking') ?? 'yes').toLowerCase();
    const strictHostKeyChecking: StrictHostKeyChecking =
      this.#options.acceptNewHostKeys || ['accept-new', 'no', 'off'].includes(strictText)
        ? 'accept-new'
        : 'yes';

    return {
      alias,
      hostName,
      port,
      user,
      identityFiles,
      identitiesOnly: (one('identitiesonly') ?? 'no').toLowerCase() === 'yes',
      agentSocket,
      proxyJump,
      connectTimeoutMs,
      userKnownHostsFiles:
        userKnown.length > 0
          ? userKnown.map(expand)
          : [join(this.#home, '.ssh', 'known_hosts'), join(this.#home, '.ssh', 'known_hosts2')],
      globalKnownHostsFiles:
        globalKnown.length > 0
          ? globalKnown.map(expand)
          : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
      strictHostKeyChecking,
      hashKnownHosts: (one('hashknownhosts') ?? 'no').toLowerCase() === 'yes',
      hostKeyAlias: one('hostkeyalias') ?? null,
    };
  }
}

const INCLUDE = /^\s*include\s*[=\s]\s*(.+?)\s*$/i;
const INCLUDE_DEPTH_MAX = 16;

/**
 * Replaces `Include` lines by the files they name (globs, sorted like glob(3)), in place, since
 * ssh-config does not follow them. An Include inside a Host block therefore continues that block
 * until the included file's own first Host line.
 */
function expandIncludes(text: string, base: string, home: string, depth: number): string {
  if (!/^\s*include\b/im.test(text)) return text;
  if (depth >= INCLUDE_DEPTH_MAX) throw new SshConfigError('Include nested too deeply');
  return text
    .split('\n')
    .map((line) => {
      const match = INCLUDE.exec(line);
      if (match === null) return line;
      const parts: string[] = [];
      for (const raw of (match[1] ?? '').split(/\s+/)) {
        const pattern = raw.replace(/^"(.*)"$/, '$1');
        const expanded = pattern.startsWith('~/') ? home + pattern.slice(1) : pattern;
        const absolute = isAbsolute(expanded) ? expanded : join(base, expanded);
        for (const file of globSync(absolute).sort()) {
          let data: Buffer;
          try {
            data = readFileSync(file);
          } catch {
            continue;
          }
          if (data.length > CONFIG_MAX_BYTES) throw new SshConfigError(`${file}: too large`);
          parts.push(expandIncludes(data.toString('utf8'), base, home, depth + 1));
        }
      }
      return parts.join('\n');
    })
    .join('\n');
}

function listValue(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function parsePort(text: string, alias: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) throw new SshConfigError(`Bad port '${text}' for ${alias}`);
  return port;
}

/** HostName accepts `%h` (the name typed) and `%%`. */
function expandHostName(value: string, alias: string): string {
  return value.replace(/%([%h])/g, (_, c: string) => (c === '%' ? '%' : alias));
}

/** `~` and the ssh_config TOKENS that make sense for file names. */
function expandPath(path: string, tokens: Record<string, string>, home: string): string {
  const withHome = path === '~' || path.startsWith('~/') ? home + path.slice(1) : path;
  return withHome.replace(/%([%a-z])/g, (whole, c: string) =>
    c === '%' ? '%' : (tokens[c] ?? whole),
  );
}

/** `[user@]host[:port]` of one ProxyJump hop. */
export function parseJump(spec: string): { host: string; user?: string; port?: number } {
  const match =
    /^(?:([A-Za-z0-9_][A-Za-z0-9._-]*)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.-]*)(?::([0-9]{1,5}))?$/.exec(
      spec.trim(),
    );
  if (match === null) throw new SshConfigError(`Bad ProxyJump entry '${spec}'`);
  const [, user, rawHost = '', portText] = match;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const result: { host: string; user?: string; port?: number } = { host };
  if (user !== undefined) result.user = user;
  if (portText !== undefined) result.port = parsePort(portText, host);
  return result;
}

function errnoText(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'No such file or directory';
  if (code === 'EACCES') return 'Permission denied';
  return (error as Error).message;
}
