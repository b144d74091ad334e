import type { request as httpRequest, IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { AppRouter } from '@fleetpmap/api';
import { isRetryableStatus, type Snapshot } from '@fleetpmap/protocol';
import { createTRPCClient, httpLink } from '@trpc/client';

const gzip = promisify(gzipCb);

/** What one push attempt came to; the sender decides from `retryable` alone. */
export type PushOutcome =
  | { ok: true; duplicate: boolean; wireBytes: number }
  | {
      ok: false;
      retryable: boolean;
      /** HTTP status, absent for network failures and timeouts. */
      status?: number;
      /** From the server's Retry-After header, when it sent one. */
      retryAfterMs?: number;
      message: string;
      /**
       * The part of the snapshot the server refused, from the tRPC error's `data.field`: e.g.
       * `host.name` on a 403 for a snapshot of a host the token is not bound to.
       */
      field?: string;
      wireBytes: number;
    };

/** Sends one snapshot object (already valid protocol-v1) to the server. */
export interface PushClient {
  /** `signal` aborts the push (the agent is stopping): the outcome is a retryable failure. */
  push(snapshot: Snapshot, signal?: AbortSignal): Promise<PushOutcome>;
}

/** What one enrollment attempt came to: the agent token, or why not and whether to retry. */
export type EnrollOutcome =
  | { ok: true; token: string; tokenId: string }
  | { ok: false; retryable: boolean; status?: number; message: string };

/** A push client that can also enroll its host, after which it pushes with the new token. */
export interface EnrollingPushClient extends PushClient {
  enroll(hostName: string, enrollToken: string): Promise<EnrollOutcome>;
}

export interface TrpcPushClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:7070`; `/trpc` is appended. */
  server: string;
  token?: string;
  timeoutMs?: number;
  userAgent?: string;
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/** `data.field` of a tRPC error answer, when the server named the refused part of the input. */
function errorField(err: unknown): string | undefined {
  const data = (err as { data?: unknown } | null)?.data;
  if (data === null || typeof data !== 'object') return undefined;
  const field = (data as { field?: unknown }).field;
  return typeof field === 'string' ? field : undefined;
}

interface LastResponse {
  status?: number;
  retryAfter: string | null;
  wireBytes: number;
  /** the push ran out of time with no answer */
  timedOut?: boolean;
}

/** The server answers a push with a few hundred bytes; anything far bigger is not its answer. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** What tRPC's link reads from a response. */
interface PushResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}

/**
 * Each HTTP module is loaded only once a push to such a URL is made, and through
 * getBuiltinModule: an ESM import of node:http evaluates every export, among them lazy getters
 * that load undici, about 12 MB resident; node:https (TLS, OpenSSL) costs several MB more.
 */
function requester(url: string): typeof httpRequest {
  return url.startsWith('https:')
    ? process.getBuiltinModule('node:https').request
    : process.getBuiltinModule('node:http').request;
}

/**
 * One POST through node:http(s) instead of the global fetch: fetch brings undici, whose HTTP parser
 * is WebAssembly, which costs resident memory and rules out V8's --lite-mode (see docs/agent.md).
 */
async function post(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  signal: AbortSignal,
): Promise<{ res: IncomingMessage; text: string }> {
  const send = requester(url);
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(body.length) },
        signal,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new Error(`response over ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => resolve({ res, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function plainHeaders(h: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(h)) {
    for (const [k, v] of h as [string, string][]) out[k.toLowerCase()] = v;
  } else if (h && typeof h === 'object') {
    for (const [k, v] of Object.entries(h)) {
      if (typeof v === 'string') out[k.toLowerCase()] = v;
    }
  }
  return out;
}

/**
 * `snapshot.push` through the tRPC client. The link's fetch gzips the JSON body and records the
 * HTTP status: a proxy or the server's own body limit may answer with a non-tRPC body, and the
 * retry decision must rest on the status, not on whether the body parsed.
 */
export function createTrpcPushClient(opts: TrpcPushClientOptions): EnrollingPushClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let last: LastResponse = { retryAfter: null, wireBytes: 0 };

  const gzipFetch = async (
    input: string | URL | { url: string },
    init?: { body?: unknown; headers?: unknown; signal?: AbortSignal | null },
  ): Promise<PushResponse> => {
    const body = init?.body;
    const raw = typeof body === 'string' ? body : '';
    const packed = await gzip(Buffer.from(raw, 'utf8'));
    last.wireBytes += packed.length;
    const headers = plainHeaders(init?.headers);
    headers['content-encoding'] = 'gzip';
    headers['content-type'] = 'application/json';
    if (opts.userAgent) headers['user-agent'] = opts.userAgent;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signals = [timeout];
    if (init?.signal) signals.push(init.signal);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const answer = post(url, headers, packed, AbortSignal.any(signals));
    const { res, text } = await answer.catch((err: unknown) => {
      if (timeout.aborted) last.timedOut = true;
      throw err;
    });
    const status = res.statusCode ?? 0;
    last.status = status;
    const retryAfter = res.headers['retry-after'];
    last.retryAfter = typeof retryAfter === 'string' ? retryAfter : null;
    return {
      ok: status >= 200 && status < 300,
      status,
      json: async () => JSON.parse(text) as unknown,
    };
  };

  const clientWith = (bearer: () => string | undefined) =>
    createTRPCClient<AppRouter>({
      links: [
        httpLink({
          url: `${opts.server.replace(/\/+$/, '')}/trpc`,
          fetch: gzipFetch,
          headers: (): Record<string, string> => {
            const token = bearer();
            return token ? { authorization: `Bearer ${token}` } : {};
          },
        }),
      ],
    });
  let token = opts.token;
  const client = clientWith(() => token);

  /** What an operator should read for a failure that has no HTTP answer behind it. */
  const failureMessage = (err: unknown, signal: AbortSignal | undefined): string => {
    if (last.status === undefined && last.timedOut) {
      return `server did not answer within ${timeoutMs / 1000} s`;
    }
    if (last.status === undefined && signal?.aborted) return 'push stopped: the agent is stopping';
    return (err as Error).message;
  };

  return {
    async push(snapshot, signal) {
      last = { retryAfter: null, wireBytes: 0 };
      try {
        const data = await client.snapshot.push.mutate(snapshot, signal ? { signal } : undefined);
        return { ok: true, duplicate: data.duplicate, wireBytes: last.wireBytes };
      } catch (err) {
        const message = failureMessage(err, signal);
        const status = last.status;
        const retryAfterMs = parseRetryAfterMs(last.retryAfter, Date.now());
        const field = errorField(err);
        return {
          ok: false,
          // No HTTP answer at all (refused, reset, timed out) is the contract's network failure.
          retryable: status === undefined || isRetryableStatus(status),
          ...(status !== undefined ? { status } : {}),
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          message,
          ...(field !== undefined ? { field } : {}),
          wireBytes: last.wireBytes,
        };
      }
    },
    async enroll(hostName, enrollToken) {
      last = { retryAfter: null, wireBytes: 0 };
      try {
        const created = await clientWith(() => enrollToken).token.enroll.mutate({ hostName });
        token = created.token;
        return { ok: true, token: created.token, tokenId: created.id };
      } catch (err) {
        const status = last.status;
        return {
          ok: false,
          retryable: status === undefined || isRetryableStatus(status),
          ...(status !== undefined ? { status } : {}),
          message: failureMessage(err, undefined),
        };
      }
    },
  };
}
