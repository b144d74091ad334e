import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';

/**
 * Expected failures of the API, each with a stable `code`. The one error formatter in `trpc.ts`
 * turns them into tRPC error codes and HTTP statuses; clients decide on retries from `retryable`.
 */
export const API_ERRORS = {
  INVALID_INPUT: { trpc: 'BAD_REQUEST', status: 400, retryable: false },
  UNAUTHENTICATED: { trpc: 'UNAUTHORIZED', status: 401, retryable: false },
  FORBIDDEN: { trpc: 'FORBIDDEN', status: 403, retryable: false },
  NOT_FOUND: { trpc: 'NOT_FOUND', status: 404, retryable: false },
  CONFLICT: { trpc: 'CONFLICT', status: 409, retryable: false },
  BODY_TOO_LARGE: { trpc: 'PAYLOAD_TOO_LARGE', status: 413, retryable: false },
  UNSUPPORTED_ENCODING: { trpc: 'UNSUPPORTED_MEDIA_TYPE', status: 415, retryable: false },
  RATE_LIMITED: { trpc: 'TOO_MANY_REQUESTS', status: 429, retryable: true },
  DATABASE_UNAVAILABLE: { trpc: 'SERVICE_UNAVAILABLE', status: 503, retryable: true },
} as const satisfies Record<
  string,
  { trpc: TRPC_ERROR_CODE_KEY; status: number; retryable: boolean }
>;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly retryable: boolean;
  readonly status: number;
  /** dotted path of the first bad input field, when there is one */
  readonly field: string | undefined;

  constructor(code: ApiErrorCode, message: string, opts: { cause?: unknown; field?: string } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ApiError';
    this.code = code;
    this.retryable = API_ERRORS[code].retryable;
    this.status = API_ERRORS[code].status;
    this.field = opts.field;
  }
}

/**
 * Connection-level failures of postgres.js and of Postgres itself: the request may succeed later,
 * so they become 503 instead of 500. SQLSTATE class 08 is "connection exception"; 57P0x are
 * shutdown/recovery states; 53300 is too_many_connections; 3D000 a database that is gone.
 * DATABASE_UNREACHABLE is the database handle's own deadline: a query given up on because the
 * database stopped answering (`@fleetpmap/db`'s `DatabaseUnreachable`).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const UNAVAILABLE_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'DATABASE_UNREACHABLE',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '3D000',
]);

/** Walks an error's cause chain (drizzle wraps driver errors) looking for a connection failure. */
export function isDatabaseUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Object; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) {
      return true;
    }
    const message = (current as { message?: unknown }).message;
    // PGlite has no error codes for these: a closed or crashed embedded database.
    if (typeof message === 'string' && /PGlite is closed|database is closed/i.test(message)) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The first ApiError in a cause chain, or a 503 ApiError for a database outage. */
export function toApiError(error: unknown): ApiError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Object; depth++) {
    if (current instanceof ApiError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  if (isDatabaseUnavailable(error)) {
    return new ApiError('DATABASE_UNAVAILABLE', 'database unavailable, retry later', {
      cause: error,
    });
  }
  return undefined;
}

/** `processes[3].mappings[0].perms` style path, as in the protocol's messages. */
export function formatFieldPath(path: readonly unknown[]): string {
  let out = '';
  for (const raw of path) {
    const part =
      raw instanceof Object && 'key' in raw
        ? (raw as { key: PropertyKey }).key
        : (raw as PropertyKey);
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
