import type { Logger } from 'pino';
import type { RateLimiter } from './rate-limiter.ts';
import type { ApiServices, Identity } from './services.ts';

/** Observers the server hangs metrics on; the API itself keeps no counters. */
export type ApiHooks = {
  onIngest?(event: {
    hostName: string;
    duplicate: boolean;
    processCount: number;
    mappingCount: number;
    mappingsStored?: number;
  }): void;
};

/** Long-lived things every request shares. */
export type ApiDeps = {
  services: ApiServices;
  log: Logger;
  version: string;
  hooks?: ApiHooks;
  rateLimiter?: RateLimiter | null;
  nowMs?: () => number;
};

export type ApiContext = {
  services: ApiServices;
  log: Logger;
  version: string;
  hooks: ApiHooks;
  rateLimiter: RateLimiter | null;
  nowMs: () => number;
  /** the raw bearer secret, or why there is none; checked only by procedures that need it */
  credential: { secret: string } | { problem: string };
  /** false when the transport saw that the body cannot hold text Postgres refuses */
  textCheckNeeded: boolean;
  /** set by the auth middleware */
  identity?: Identity;
};

/** Token secrets are opaque printable strings; anything longer is not a token of ours. */
const MAX_TOKEN_CHARS = 256;
const TOKEN_CHARS = /^[A-Za-z0-9._~+/=-]+$/;

export function parseAuthorization(header: string | undefined): ApiContext['credential'] {
  if (header === undefined || header === '') return { problem: 'missing bearer token' };
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match?.[1]) return { problem: 'Authorization header must be "Bearer <token>"' };
  const secret = match[1];
  if (secret.length > MAX_TOKEN_CHARS || !TOKEN_CHARS.test(secret)) {
    return { problem: 'malformed bearer token' };
  }
  return { secret };
}

/** One context per request; authentication is deferred so public procedures never touch storage. */
export function createApiContext(
  deps: ApiDeps,
  request: { authorization: string | undefined; log?: Logger; textCheckNeeded?: boolean },
): ApiContext {
  return {
    services: deps.services,
    log: request.log ?? deps.log,
    version: deps.version,
    hooks: deps.hooks ?? {},
    rateLimiter: deps.rateLimiter ?? null,
    nowMs: deps.nowMs ?? Date.now,
    credential: parseAuthorization(request.authorization),
    textCheckNeeded: request.textCheckNeeded ?? true,
  };
}
