import type { AppRouter } from '@fleetpmap/api';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { printable } from './format.ts';

/** The server gave no answer, headers and body, within the connection's timeout. */
export class RequestTimeoutError extends Error {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
    this.name = 'RequestTimeoutError';
  }
}

/** An answer the fleetpmap API never gives: not JSON, or JSON without a tRPC result or error. */
export class NotTheApiError extends Error {
  readonly status: number;
  readonly contentType: string;
  constructor(status: number, contentType: string) {
    super(`HTTP ${status} (${contentType === '' ? 'no content type' : contentType})`);
    this.status = status;
    this.contentType = contentType;
    this.name = 'NotTheApiError';
  }
}

/**
 * fetch with the connection's timeout over the whole exchange, body included, and a check that
 * the answer is the API's: every answer of the fleetpmap server, errors too, is a JSON object
 * holding `result` or `error`. Anything else (a proxy's or another program's page) would
 * otherwise surface as a JSON parse error.
 */
function fleetFetch(timeoutMs: number): typeof fetch {
  return async (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const res = await fetch(input, { ...init, signal });
      const contentType = res.headers.get('content-type') ?? '';
      const text = await res.text();
      if (!/^application\/json\s*(;|$)/i.test(contentType) || !isTrpcEnvelope(text)) {
        throw new NotTheApiError(res.status, contentType);
      }
      return new Response(text, { status: res.status, headers: res.headers });
    } catch (error) {
      if (timeout.aborted && !init?.signal?.aborted) throw new RequestTimeoutError(timeoutMs);
      throw error;
    }
  };
}

function isTrpcEnvelope(text: string): boolean {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return false;
  }
  return typeof json === 'object' && json !== null && ('result' in json || 'error' in json);
}

/** Type-only import of the router: the CLI never loads server or database code. */
export function createFleetClient(connection: Connection) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${connection.server}/trpc`,
        fetch: fleetFetch(connection.timeoutMs),
        headers: () =>
          connection.token === undefined ? {} : { authorization: `Bearer ${connection.token}` },
      }),
    ],
  });
}

export type FleetClient = ReturnType<typeof createFleetClient>;

/**
 * The one-line message for a request that got no usable answer: a timeout, or an answer from
 * something that is not the fleetpmap API; undefined for any other failure.
 */
export function transportFailure(error: unknown, connection: Connection): string | undefined {
  const cause = error instanceof TRPCClientError ? error.cause : error;
  if (cause instanceof RequestTimeoutError) {
    return (
      `the server at ${connection.server} did not answer within ${cause.timeoutMs / 1000} s` +
      ' (--timeout SECONDS or FLEETPMAP_TIMEOUT waits longer)'
    );
  }
  if (cause instanceof NotTheApiError) {
    return `the server at ${connection.server} answered ${cause.message}, which is not the fleetpmap API`;
  }
  return undefined;
}

/** Runs one call and turns transport and server errors into one-line messages. */
export async function call<T>(connection: Connection, fn: (c: FleetClient) => Promise<T>) {
  try {
    return await fn(createFleetClient(connection));
  } catch (error) {
    if (error instanceof TRPCClientError) {
      const failure = transportFailure(error, connection);
      if (failure !== undefined) throw new FleetCommandError(failure);
      const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus;
      if (status === undefined) {
        const cause = error.cause instanceof Error ? error.cause : error;
        throw new FleetCommandError(
          printable(`cannot reach the server at ${connection.server}: ${describeCause(cause)}`),
        );
      }
      const hint =
        status === 401 && connection.token === undefined
          ? ' (give a token with --token, FLEETPMAP_TOKEN or the config file)'
          : '';
      // The server's message may quote host names, paths and command lines.
      throw new FleetCommandError(`server answered ${status}: ${printable(error.message)}${hint}`);
    }
    throw error;
  }
}

function describeCause(error: Error): string {
  const inner = error.cause;
  if (inner instanceof Error && 'code' in inner) return `${String(inner.code)} ${inner.message}`;
  return error.message;
}
