import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { AppRouter } from '@fleetpmap/api';
import type { Snapshot } from '@fleetpmap/protocol';
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
      wireBytes: number;
    };

/** Sends one snapshot object (already valid protocol-v1) to the server. */
export interface PushClient {
  push(snapshot: Snapshot): Promise<PushOutcome>;
}

export interface TrpcPushClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:7070`; `/trpc` is appended. */
  server: string;
  token?: string;
  timeoutMs?: number;
  userAgent?: string;
}

/** The contract retries only these; every other 4xx/5xx is final for that snapshot. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 503;
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

interface LastResponse {
  status?: number;
  retryAfter: string | null;
  wireBytes: number;
}

/**
 * `snapshot.push` through the tRPC client. The link's fetch gzips the JSON body and records the
 * HTTP status: a proxy or the server's own body limit may answer with a non-tRPC body, and the
 * retry decision must rest on the status, not on whether the body parsed.
 */
export function createTrpcPushClient(opts: TrpcPushClientOptions): PushClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let last: LastResponse = { retryAfter: null, wireBytes: 0 };

  const gzipFetch = async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const body = init?.body;
    const raw = typeof body === 'string' ? body : '';
    const packed = await gzip(Buffer.from(raw, 'utf8'));
    last.wireBytes += packed.length;
    const headers = new Headers(init?.headers);
    headers.set('content-encoding', 'gzip');
    headers.set('content-type', 'application/json');
    if (opts.userAgent) headers.set('user-agent', opts.userAgent);
    const signals = [AbortSignal.timeout(timeoutMs)];
    if (init?.signal) signals.push(init.signal);
    const res = await fetch(input, {
      ...init,
      headers,
      body: packed,
      signal: AbortSignal.any(signals),
    });
    last.status = res.status;
    last.retryAfter = res.headers.get('retry-after');
    return res;
  };

  const client = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${opts.server.replace(/\/+$/, '')}/trpc`,
        fetch: gzipFetch,
        headers: () => (opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      }),
    ],
  });

  return {
    async push(snapshot) {
      last = { retryAfter: null, wireBytes: 0 };
      try {
        const data = await client.snapshot.push.mutate(snapshot);
        return { ok: true, duplicate: data.duplicate, wireBytes: last.wireBytes };
      } catch (err) {
        const message = (err as Error).message;
        const status = last.status;
        const retryAfterMs = parseRetryAfterMs(last.retryAfter, Date.now());
        return {
          ok: false,
          // No HTTP answer at all (refused, reset, timed out) is the contract's network failure.
          retryable: status === undefined || isRetryableStatus(status),
          ...(status !== undefined ? { status } : {}),
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
          message,
          wireBytes: last.wireBytes,
        };
      }
    },
  };
}
