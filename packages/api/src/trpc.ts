import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { initTRPC, TRPCError } from '@trpc/server';
import type { ApiContext } from './context.ts';
import { API_ERRORS, ApiError, type ApiErrorCode, formatFieldPath, toApiError } from './errors.ts';
import type { Identity, Role } from './services.ts';

/** tRPC's JSON-RPC numbers, which the default error shape carries as `code`. */
const JSONRPC_CODES: Record<TRPC_ERROR_CODE_KEY, number> = {
  PARSE_ERROR: -32700,
  BAD_REQUEST: -32600,
  INTERNAL_SERVER_ERROR: -32603,
  NOT_IMPLEMENTED: -32603,
  BAD_GATEWAY: -32603,
  SERVICE_UNAVAILABLE: -32603,
  GATEWAY_TIMEOUT: -32603,
  UNAUTHORIZED: -32001,
  PAYMENT_REQUIRED: -32002,
  FORBIDDEN: -32003,
  NOT_FOUND: -32004,
  METHOD_NOT_SUPPORTED: -32005,
  TIMEOUT: -32008,
  CONFLICT: -32009,
  PRECONDITION_FAILED: -32012,
  PAYLOAD_TOO_LARGE: -32013,
  UNSUPPORTED_MEDIA_TYPE: -32015,
  UNPROCESSABLE_CONTENT: -32022,
  PRECONDITION_REQUIRED: -32028,
  TOO_MANY_REQUESTS: -32029,
  CLIENT_CLOSED_REQUEST: -32099,
};

export type ErrorDescription = {
  trpcCode: TRPC_ERROR_CODE_KEY;
  httpStatus: number;
  /** the stable domain code, when the failure is an expected one */
  domainCode: ApiErrorCode | undefined;
  message: string;
  retryable: boolean;
  field: string | undefined;
};

const MAX_MESSAGE_CHARS = 500;

/**
 * The single translation from anything a procedure can throw to what a client sees. Internal
 * errors keep their details in the server log only: clients get a fixed message.
 */
export function describeError(error: TRPCError): ErrorDescription {
  const api = toApiError(error.cause) ?? toApiError(error);
  if (api) {
    const spec = API_ERRORS[api.code];
    return {
      trpcCode: spec.trpc,
      httpStatus: spec.status,
      domainCode: api.code,
      message: api.message.slice(0, MAX_MESSAGE_CHARS),
      retryable: spec.retryable,
      field: api.field,
    };
  }
  const issues = (error.cause as { issues?: unknown } | undefined)?.issues;
  if (error.code === 'BAD_REQUEST' && Array.isArray(issues) && issues.length > 0) {
    const first = issues[0] as { path?: readonly unknown[]; message?: string };
    const field = formatFieldPath(first.path ?? []);
    const what = String(first.message ?? 'invalid value').slice(0, MAX_MESSAGE_CHARS);
    return {
      trpcCode: 'BAD_REQUEST',
      httpStatus: 400,
      domainCode: 'INVALID_INPUT',
      message: field === '' ? `invalid input: ${what}` : `invalid input at ${field}: ${what}`,
      retryable: false,
      field,
    };
  }
  if (error.code === 'BAD_REQUEST' && error.cause instanceof SyntaxError) {
    return {
      trpcCode: 'BAD_REQUEST',
      httpStatus: 400,
      domainCode: 'INVALID_INPUT',
      message: `malformed JSON body: ${error.cause.message.slice(0, MAX_MESSAGE_CHARS)}`,
      retryable: false,
      field: undefined,
    };
  }
  const httpStatus = statusOf(error.code);
  return {
    trpcCode: error.code,
    httpStatus,
    domainCode: undefined,
    message:
      httpStatus >= 500 ? 'internal server error' : error.message.slice(0, MAX_MESSAGE_CHARS),
    retryable: false,
    field: undefined,
  };
}

function statusOf(code: TRPC_ERROR_CODE_KEY): number {
  const statuses: Partial<Record<TRPC_ERROR_CODE_KEY, number>> = {
    PARSE_ERROR: 400,
    BAD_REQUEST: 400,
    UNAUTHORIZED: 401,
    PAYMENT_REQUIRED: 402,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    METHOD_NOT_SUPPORTED: 405,
    TIMEOUT: 408,
    CONFLICT: 409,
    PRECONDITION_FAILED: 412,
    PAYLOAD_TOO_LARGE: 413,
    UNSUPPORTED_MEDIA_TYPE: 415,
    UNPROCESSABLE_CONTENT: 422,
    PRECONDITION_REQUIRED: 428,
    TOO_MANY_REQUESTS: 429,
    CLIENT_CLOSED_REQUEST: 499,
    NOT_IMPLEMENTED: 501,
    BAD_GATEWAY: 502,
    SERVICE_UNAVAILABLE: 503,
    GATEWAY_TIMEOUT: 504,
  };
  return statuses[code] ?? 500;
}

/** The error body every client sees; `data.httpStatus` also sets the response status. */
export function errorShape(d: ErrorDescription, path: string | undefined) {
  return {
    message: d.message,
    code: JSONRPC_CODES[d.trpcCode],
    data: {
      code: d.trpcCode,
      httpStatus: d.httpStatus,
      ...(path === undefined ? {} : { path }),
      ...(d.domainCode === undefined ? {} : { domainCode: d.domainCode }),
      retryable: d.retryable,
      ...(d.field === undefined ? {} : { field: d.field }),
    },
  };
}

// No data transformer: snapshot.push is a plain JSON POST that any agent can produce.
const t = initTRPC.context<ApiContext>().create({
  isDev: false,
  errorFormatter({ error, path }) {
    return errorShape(describeError(error), path);
  },
});

export const router = t.router;
export const publicProcedure = t.procedure;

const authenticatedProcedure = t.procedure.use(async ({ ctx, next }) => {
  if ('problem' in ctx.credential) throw new ApiError('UNAUTHENTICATED', ctx.credential.problem);
  const identity = await ctx.services.authenticate(ctx.credential.secret);
  if (!identity) throw new ApiError('UNAUTHENTICATED', 'unknown or revoked token');
  if (ctx.rateLimiter && !ctx.rateLimiter.take(identity.tokenId)) {
    throw new ApiError('RATE_LIMITED', 'too many requests for this token, retry later');
  }
  return next({ ctx: { ...ctx, identity } });
});

function withRoles(...roles: Role[]) {
  return authenticatedProcedure.use(({ ctx, next }) => {
    if (!roles.includes(ctx.identity.role)) {
      throw new ApiError(
        'FORBIDDEN',
        `${ctx.identity.role === 'reader' ? 'a' : 'an'} ${ctx.identity.role} token may not call this (needs ${roles.join(' or ')})`,
      );
    }
    return next({ ctx: { ...ctx, identity: ctx.identity } });
  });
}

export const adminProcedure = withRoles('admin');
/** Reading the fleet: reader and admin tokens. Agent tokens only write. */
export const readerProcedure = withRoles('admin', 'reader');
/** Writing snapshots: agent tokens (for their own host) and admin tokens. */
export const agentProcedure = withRoles('admin', 'agent');
/** Enrolling a new host: enroll tokens, and nothing else. */
export const enrollProcedure = withRoles('enroll');

/** An agent token is bound to one host name; admins may write any host. */
export function assertMayWriteHost(identity: Identity, hostName: string): void {
  if (identity.role === 'admin') return;
  if (identity.role === 'agent' && identity.hostName === hostName) return;
  // The field says which part of the input was refused: a client pushing many snapshots can
  // tell a snapshot of another host (that one refused) from a token that may not push at all.
  if (identity.role === 'agent') {
    throw new ApiError(
      'FORBIDDEN',
      `this agent token is bound to host "${identity.hostName}", not "${hostName}"`,
      { field: 'host.name' },
    );
  }
  throw new ApiError(
    'FORBIDDEN',
    `${identity.role === 'reader' ? 'a' : 'an'} ${identity.role} token may not write snapshots`,
  );
}

export { TRPCError };
