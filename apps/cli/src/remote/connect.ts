// One SSH connection per host, with ssh2: OpenSSH-style settings, ProxyJump, ssh-agent and key
// files, strict known_hosts checking, a connect timeout, and a read timeout per command.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Socket, connect as tcpConnect } from 'node:net';
import type { Readable } from 'node:stream';
import type { AnyAuthMethod, AuthenticationType, Client, ClientChannel, ConnectConfig } from 'ssh2';
import {
  blobKeyType,
  checkHostKey,
  fingerprint,
  keyTypeLabel,
  knownHostsName,
  loadKnownHosts,
  lowerHostName,
  preferredHostKeyAlgorithms,
  recordHostKey,
} from './known-hosts.ts';
import type { PassphrasePrompter } from './passphrase.ts';
import {
  type HostSettings,
  parseJump,
  SshConfigError,
  type SshSettingsResolver,
} from './ssh-settings.ts';

/**
 * `login`: the host logged us in but did not run the read (a nologin shell, a ForceCommand, no
 * `sh`); `protocol`: the read ran and failed or broke.
 */
export type HostErrorKind =
  | 'unreachable'
  | 'auth'
  | 'host-key'
  | 'timeout'
  | 'config'
  | 'login'
  | 'protocol';

/** A host that could not be reached, authenticated or trusted; the message is ssh-like. */
export class HostError extends Error {
  readonly code: HostErrorKind;
  readonly retryable: boolean;
  constructor(code: HostErrorKind, message: string) {
    super(message);
    this.code = code;
    this.retryable = code === 'unreachable' || code === 'timeout';
  }
}

export interface ExecResult {
  stdout: Buffer;
  stderr: Buffer;
  /** Remote exit status, or null if the command was killed by a signal. */
  code: number | null;
}

export interface ExecLimits {
  timeoutMs: number;
  maxStdoutBytes: number;
  maxStderrBytes: number;
}

export interface ConnectContext {
  resolver: SshSettingsResolver;
  prompter: PassphrasePrompter | null;
  /** Messages ssh prints on stderr as it goes (e.g. a permanently added host key). */
  warn: (message: string) => void;
}

type Ssh2 = Pick<typeof import('ssh2'), 'Client'> & {
  utils: Pick<typeof import('ssh2')['utils'], 'parseKey'>;
};
let ssh2: Ssh2 | undefined;

/**
 * Loads ssh2's client lazily: it is the largest module of the CLI. Its index also loads the SSH
 * server, the SFTP helpers and the HTTP(S) agents (node:https alone costs ~80 ms of start-up),
 * none of which a client needs, so the client and key parser are required directly. ssh2 is
 * pinned to an exact version and its package has no exports map; the index is the fallback.
 */
function loadSsh2(): Ssh2 {
  if (ssh2 !== undefined) return ssh2;
  const require = createRequire(import.meta.url);
  try {
    const Client = require('ssh2/lib/client.js') as Ssh2['Client'];
    const { parseKey } = require('ssh2/lib/protocol/keyParser.js') as Ssh2['utils'];
    if (typeof Client !== 'function' || typeof parseKey !== 'function') throw new Error('layout');
    ssh2 = { Client, utils: { parseKey } };
  } catch {
    ssh2 = require('ssh2') as Ssh2;
  }
  return ssh2;
}

const KEY_FILE_MAX_BYTES = 1 << 20;
const MAX_JUMPS = 8;

/** `256 MiB`, or a number of bytes when not a whole number of MiB. */
function size(bytes: number): string {
  return bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `${bytes} bytes`;
}

/** An authenticated connection to one host, plus the jump connections it rides on. */
export class SshSession {
  readonly #clients: Client[];
  readonly host: string;
  #closed = false;

  constructor(clients: Client[], host: string) {
    this.#clients = clients;
    this.host = host;
  }

  /** Runs a fixed command and collects its output, within size and time limits. */
  exec(command: string, limits: ExecLimits, stdin?: Buffer): Promise<ExecResult> {
    const client = this.#clients[this.#clients.length - 1];
    if (client === undefined || this.#closed) {
      return Promise.reject(new HostError('protocol', 'connection closed'));
    }
    return new Promise((resolve, reject) => {
      let channel: ClientChannel | undefined;
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let code: number | null = null;
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        channel?.destroy();
        // A stuck or oversized read leaves the remote side in an unknown state; drop the link.
        this.close();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            new HostError(
              'timeout',
              `remote read timed out after ${Math.round(limits.timeoutMs / 1000)} s`,
            ),
          ),
        limits.timeoutMs,
      );
      client.exec(command, (error, stream) => {
        if (error) return fail(new HostError('protocol', `exec failed: ${error.message}`));
        channel = stream;
        // Checked as each chunk arrives: nothing past the limit is kept, and the channel is closed.
        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          outBytes += chunk.length;
          if (outBytes > limits.maxStdoutBytes) {
            return fail(
              new HostError('protocol', `remote output over ${size(limits.maxStdoutBytes)}`),
            );
          }
          stdout.push(chunk);
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          errBytes += chunk.length;
          if (errBytes <= limits.maxStderrBytes) stderr.push(chunk);
        });
        stream.on('exit', (exitCode: number | null) => {
          code = typeof exitCode === 'number' ? exitCode : null;
        });
        stream.on('close', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr), code });
        });
        if (stdin !== undefined) stream.end(stdin);
        else stream.end();
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#clients.toReversed()) client.end();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Connects to `alias` (through its ProxyJump hosts, if any) and authenticates. */
export async function connect(
  alias: string,
  user: string | undefined,
  context: ConnectContext,
): Promise<SshSession> {
  let hops: HostSettings[];
  try {
    hops = resolveHops(alias, user, context);
  } catch (error) {
    if (error instanceof SshConfigError) throw new HostError('config', error.message);
    throw error;
  }

  // The TCP connection (and sshd's per-connection start-up) runs while ssh2, the largest module
  // of the CLI, is being loaded.
  const first = hops[0] as HostSettings;
  const early = preconnect(first);
  let loaded: Ssh2;
  try {
    loaded = loadSsh2();
  } catch (error) {
    early.socket.destroy();
    throw error;
  }
  const { Client } = loaded;
  const clients: Client[] = [];
  try {
    if (early.error !== null) throw classify(early.error, first);
    let sock: Readable | undefined = early.socket;
    for (let i = 0; i < hops.length; i++) {
      const hop = hops[i] as HostSettings;
      const client = new Client();
      clients.push(client);
      await connectOne(client, hop, sock, context);
      const next = hops[i + 1];
      if (next !== undefined) sock = await forward(client, next);
    }
  } catch (error) {
    for (const client of clients.toReversed()) client.end();
    early.socket.destroy();
    throw error;
  }
  return new SshSession(clients, alias);
}

/** The hops to reach `alias`: its ProxyJump hosts in order, then the host itself. */
function resolveHops(
  alias: string,
  user: string | undefined,
  context: ConnectContext,
): HostSettings[] {
  const settings = context.resolver.resolve(alias, user === undefined ? {} : { user });
  const hops: HostSettings[] = [];
  if (settings.proxyJump.length > MAX_JUMPS) {
    throw new HostError('config', `too many ProxyJump hosts for ${alias}`);
  }
  for (const spec of settings.proxyJump) {
    const jump = parseJump(spec);
    const given: { user?: string; port?: number; jump: true } = { jump: true };
    if (jump.user !== undefined) given.user = jump.user;
    if (jump.port !== undefined) given.port = jump.port;
    hops.push(context.resolver.resolve(jump.host, given));
  }
  hops.push(settings);
  return hops;
}

/**
 * Starts the TCP connection to the first hop; errors before ssh2 takes over are kept. Every
 * handshake and auth step is a small request waiting for a small reply: with Nagle's algorithm
 * against delayed ACKs each could stall ~40 ms, so TCP_NODELAY is set, as OpenSSH does.
 */
function preconnect(hop: HostSettings): {
  socket: Socket;
  error: (Error & { code?: string }) | null;
} {
  const socket = tcpConnect({ host: hop.hostName, port: hop.port });
  socket.setNoDelay(true);
  const early: { socket: Socket; error: (Error & { code?: string }) | null } = {
    socket,
    error: null,
  };
  socket.once('error', (error) => {
    early.error = error;
  });
  return early;
}

function forward(client: Client, next: HostSettings): Promise<Readable> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, next.hostName, next.port, (error, stream) => {
      if (error) {
        reject(
          new HostError(
            'unreachable',
            `channel open to ${next.hostName} port ${next.port} failed: ${error.message}`,
          ),
        );
      } else {
        resolve(stream);
      }
    });
  });
}

async function connectOne(
  client: Client,
  hop: HostSettings,
  sock: Readable | undefined,
  context: ConnectContext,
): Promise<void> {
  const knownHostsFiles = [...hop.userKnownHostsFiles, ...hop.globalKnownHostsFiles];
  const entries = loadKnownHosts(knownHostsFiles);
  // A HostKeyAlias is the whole known_hosts name, as OpenSSH uses it: never `[alias]:port`.
  const lookup =
    hop.hostKeyAlias !== null
      ? lowerHostName(hop.hostKeyAlias)
      : knownHostsName(hop.hostName, hop.port);
  const knownTypes = entries
    .filter((e) => e.marker === null)
    .filter((e) => checkHostKey([e], [lookup], e.key).status === 'known')
    .map((e) => e.keyType);
  let hostKeyProblem: HostError | null = null;

  const hostVerifier = (key: Buffer): boolean => {
    const verdict = checkHostKey(entries, [lookup], key);
    const label = keyTypeLabel(blobKeyType(key));
    if (verdict.status === 'known') return true;
    if (verdict.status === 'revoked') {
      hostKeyProblem = new HostError(
        'host-key',
        `Host key ${fingerprint(key)} revoked by file ${verdict.entry.file} line ${verdict.entry.line}\n` +
          `Host key verification failed.`,
      );
      return false;
    }
    if (verdict.status === 'changed') {
      hostKeyProblem = new HostError(
        'host-key',
        [
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          '@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @',
          '@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@',
          'IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!',
          `The ${label} host key for ${lookup} has changed.`,
          `The fingerprint for the ${label} key sent by the remote host is`,
          fingerprint(key),
          `Offending ${label} key in ${verdict.offending.file}:${verdict.offending.line}`,
          `Host key for ${lookup} has changed and you have requested strict checking.`,
          'Host key verification failed.',
        ].join('\n'),
      );
      return false;
    }
    if (hop.strictHostKeyChecking === 'accept-new') {
      const file = hop.userKnownHostsFiles[0];
      if (file === undefined) return false;
      try {
        recordHostKey(file, lookup, key, hop.hashKnownHosts);
      } catch (error) {
        hostKeyProblem = new HostError(
          'host-key',
          `Failed to add the host to the list of known hosts (${file}): ${(error as Error).message}\n` +
            'Host key verification failed.',
        );
        return false;
      }
      context.warn(`Warning: Permanently added '${lookup}' (${label}) to the list of known hosts.`);
      return true;
    }
    hostKeyProblem = new HostError(
      'host-key',
      `No ${label} host key is known for ${lookup} and you have requested strict checking.\n` +
        'Host key verification failed.',
    );
    return false;
  };

  const methods = await authMethods(hop, context);
  let next = 0;
  const authHandler = (
    _left: AuthenticationType[],
    _partial: boolean,
    callback: (method: AnyAuthMethod | false) => void,
  ) => {
    const method = methods[next++];
    if (method === undefined) return callback(false);
    if (typeof method === 'function') {
      method().then(
        (resolved) => {
          if (resolved !== null) return callback(resolved);
          authHandler(_left, _partial, callback);
        },
        () => authHandler(_left, _partial, callback),
      );
      return;
    }
    callback(method);
  };

  const config: ConnectConfig = {
    host: hop.hostName,
    port: hop.port,
    username: hop.user,
    readyTimeout: hop.connectTimeoutMs,
    hostVerifier,
    authHandler: authHandler as unknown as ConnectConfig['authHandler'],
    algorithms: { serverHostKey: preferredHostKeyAlgorithms(knownTypes) as never },
  };
  if (sock !== undefined) config.sock = sock;

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error & { level?: string; code?: string }) => {
      // An agent that cannot be reached is skipped, as ssh does; ssh2 goes on with the next method.
      if (error.level === 'agent') return;
      cleanup();
      reject(hostKeyProblem ?? classify(error, hop));
    };
    const onReady = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(
        hostKeyProblem ??
          new HostError('unreachable', `Connection closed by ${hop.hostName} port ${hop.port}`),
      );
    };
    const cleanup = () => {
      client.off('error', onError);
      client.off('ready', onReady);
      client.off('close', onClose);
      // Later errors (after ready) surface through the channel that is in use.
      client.on('error', () => {});
    };
    client.on('error', onError);
    client.once('ready', onReady);
    client.once('close', onClose);
    client.connect(config);
  });
}

type PendingMethod = AnyAuthMethod | (() => Promise<AnyAuthMethod | null>);

/** OpenSSH's order: agent keys, then identity files (asking for passphrases on a terminal). */
async function authMethods(hop: HostSettings, context: ConnectContext): Promise<PendingMethod[]> {
  const methods: PendingMethod[] = [];
  if (hop.agentSocket !== null && !hop.identitiesOnly) {
    methods.push({ type: 'agent', username: hop.user, agent: hop.agentSocket });
  }
  const { utils } = loadSsh2();
  for (const file of hop.identityFiles) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      continue;
    }
    if (data.length > KEY_FILE_MAX_BYTES) continue;
    const parsed = utils.parseKey(data);
    if (!(parsed instanceof Error)) {
      methods.push({ type: 'publickey', username: hop.user, key: data });
      continue;
    }
    if (!/passphrase/i.test(parsed.message) || context.prompter === null) continue;
    const prompter = context.prompter;
    methods.push(async () => {
      const passphrase = await prompter.ask(file);
      if (passphrase === null) return null;
      const decrypted = utils.parseKey(data, passphrase);
      if (decrypted instanceof Error) {
        context.warn(`Bad passphrase for key '${file}'.`);
        return null;
      }
      return { type: 'publickey', username: hop.user, key: data, passphrase };
    });
  }
  return methods;
}

function classify(error: Error & { level?: string; code?: string }, hop: HostSettings): HostError {
  const where = `${hop.hostName} port ${hop.port}`;
  if (error.level === 'client-authentication') {
    return new HostError('auth', `${hop.user}@${hop.hostName}: Permission denied (publickey).`);
  }
  if (error.level === 'client-timeout') {
    return new HostError('timeout', `connect to host ${where}: Connection timed out`);
  }
  switch (error.code) {
    case 'ECONNREFUSED':
      return new HostError('unreachable', `connect to host ${where}: Connection refused`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new HostError(
        'unreachable',
        `Could not resolve hostname ${hop.hostName}: Name or service not known`,
      );
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new HostError('unreachable', `connect to host ${where}: No route to host`);
    case 'ETIMEDOUT':
      return new HostError('timeout', `connect to host ${where}: Connection timed out`);
    case 'ECONNRESET':
      return new HostError('unreachable', `Connection reset by ${where}`);
    default:
      return new HostError('unreachable', `${where}: ${error.message}`);
  }
}
