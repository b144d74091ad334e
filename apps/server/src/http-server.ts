import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  type ApiDeps,
  ApiError,
  appRouter,
  createApiContext,
  describeError,
  type ErrorDescription,
  errorShape,
  mayHoldUnstorableText,
  parseAuthorization,
} from '@fleetpmap/api';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import type { Logger } from 'pino';
import { type BodyBudget, BodyError, type BodyLimits, readBody } from './body.ts';
import type { ServerMetrics } from './metrics.ts';

/** `detail` is public (/readyz answers anyone); `error`, the cause, goes to the log only. */
export type Readiness = { ready: boolean; detail: string; error?: unknown };

export type RequestListenerOptions = {
  deps: ApiDeps;
  metrics: ServerMetrics;
  limits: BodyLimits;
  /** the bytes of request bodies this process reads and holds at once */
  bodyBudget: BodyBudget;
  log: Logger;
  readiness: () => Promise<Readiness>;
  /** the /metrics text; by default this process's registry */
  metricsText?: () => Promise<string>;
};

/** The request listener, and what a shutdown needs of it. */
export type RequestListenerWithDrain = RequestListener & {
  /**
   * The server is shutting down: every answer not yet begun, and every one after, closes its
   * connection, so that a client on a kept-alive connection moves to another replica instead of
   * sending more here.
   */
  closeAfterAnswers(): void;
  /** resolves once no request is being handled, or after `timeoutMs` */
  settled(timeoutMs: number): Promise<void>;
};

const PUSH_PATH = '/trpc/snapshot.push';
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Metrics label of an error status that no layer named more precisely. */
const REASON_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'timeout',
  413: 'too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'database_unavailable',
};

type RequestState = {
  log: Logger;
  reason?: string;
  body?: { wire: number; inflated: number };
  textCheckNeeded?: boolean;
};

/**
 * The whole HTTP surface: `/trpc/*` (bodies read and inflated here, under caps, before tRPC sees
 * them), `/healthz`, `/readyz`, `/metrics`. Every error answer has tRPC's error shape.
 */
export function createRequestListener(opts: RequestListenerOptions): RequestListenerWithDrain {
  const states = new WeakMap<IncomingMessage, RequestState>();
  // Requests whose handler has not returned yet (the socket may be gone already): a shutdown
  // closes the database only after them, so that none fails on a closed pool.
  let handling = 0;
  let onSettled: (() => void) | undefined;
  const unanswered = new Set<ServerResponse>();
  let closing = false;
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    // No maxBodySize: the body reaches tRPC already read and capped, as a string.
    // No batching: the contract is one plain JSON request per call.
    allowBatching: false,
    responseMeta: ({ errors }) => {
      const retry = errors.some((e) => {
        const status = describeError(e).httpStatus;
        return status === 429 || status === 503;
      });
      return retry ? { headers: { 'retry-after': '5' } } : {};
    },
    createContext: ({ req }) =>
      createApiContext(opts.deps, {
        authorization: req.headers.authorization,
        log: states.get(req)?.log ?? opts.log,
        textCheckNeeded: states.get(req)?.textCheckNeeded ?? true,
      }),
    onError: ({ error, path, req }) => {
      const d = describeError(error);
      const state = states.get(req);
      if (state) state.reason = d.domainCode?.toLowerCase() ?? REASON_BY_STATUS[d.httpStatus];
      recordFailure(d, error.cause ?? error, state?.log ?? opts.log, path);
    },
  });

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    if (closing) res.setHeader('connection', 'close');
    unanswered.add(res);
    res.once('close', () => unanswered.delete(res));
    const header = req.headers['x-request-id'];
    const reqId = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
    const state: RequestState = { log: opts.log.child({ reqId }) };
    states.set(req, state);
    res.setHeader('x-request-id', reqId);
    const pathname = (req.url ?? '/').split('?', 1)[0] ?? '/';

    res.on('finish', () => {
      const ms = performance.now() - started;
      const status = res.statusCode;
      if (status >= 400) {
        opts.metrics.rejected.inc({ reason: state.reason ?? REASON_BY_STATUS[status] ?? 'other' });
      }
      if (pathname === PUSH_PATH) {
        opts.metrics.pushLatency.observe(ms / 1000);
        if (state.body) {
          opts.metrics.bytes.inc({ stage: 'wire' }, state.body.wire);
          opts.metrics.bytes.inc({ stage: 'inflated' }, state.body.inflated);
        }
      }
      const line = {
        method: req.method,
        path: pathname.slice(0, 200),
        status,
        ms: Math.round(ms * 10) / 10,
        ...(state.body ? { bytes: state.body.wire } : {}),
      };
      if (status >= 500) state.log.warn(line, 'request');
      else state.log.debug(line, 'request');
    });

    handling++;
    route(req, res, pathname, state)
      .catch((error: unknown) => {
        state.log.error({ err: error }, 'unhandled request error');
        if (!res.headersSent) {
          sendError(res, {
            trpcCode: 'INTERNAL_SERVER_ERROR',
            httpStatus: 500,
            domainCode: undefined,
            message: 'internal server error',
            retryable: false,
            field: undefined,
          });
        } else {
          res.destroy();
        }
      })
      .finally(() => {
        handling--;
        if (handling === 0) onSettled?.();
      });
  };
  return Object.assign(listener, {
    closeAfterAnswers() {
      closing = true;
      for (const res of unanswered) if (!res.headersSent) res.setHeader('connection', 'close');
    },
    settled(timeoutMs: number): Promise<void> {
      if (handling === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        onSettled = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    },
  });

  /** Counts and logs an answer of 503 (the database unavailable) or another 5xx. */
  function recordFailure(
    d: ErrorDescription,
    cause: unknown,
    log: Logger,
    path: string | undefined,
  ): void {
    if (d.domainCode === 'DATABASE_UNAVAILABLE') {
      opts.metrics.databaseErrors.inc({ kind: 'unavailable' });
      log.warn({ path, err: cause }, 'database unavailable');
    } else if (d.httpStatus >= 500) {
      if (hasSqlState(cause)) opts.metrics.databaseErrors.inc({ kind: 'query' });
      log.error({ path, err: cause }, 'internal error');
    }
  }

  /**
   * Why the request's token is refused (as the API would refuse it), or null when it is known.
   * A failure of the lookup itself is counted and logged as tRPC's `onError` would have.
   */
  async function authenticationProblem(
    req: IncomingMessage,
    state: RequestState,
  ): Promise<ErrorDescription | null> {
    const credential = parseAuthorization(req.headers.authorization);
    try {
      if ('problem' in credential) throw new ApiError('UNAUTHENTICATED', credential.problem);
      const identity = await opts.deps.services.authenticate(credential.secret);
      if (!identity) throw new ApiError('UNAUTHENTICATED', 'unknown or revoked token');
      return null;
    } catch (error) {
      // A database that cannot be reached is the API's 503, as it would be after the body.
      const d = describeError(new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error }));
      recordFailure(d, error, state.log, req.url);
      return d;
    }
  }

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    pathname: string,
    state: RequestState,
  ): Promise<void> {
    if (pathname.startsWith('/trpc/')) {
      if (req.method !== 'GET' && req.method !== 'POST') {
        res.setHeader('connection', 'close');
        sendError(
          res,
          clientError(405, `${req.method} is not allowed: queries GET, mutations POST`),
        );
        return;
      }
      if (req.method === 'POST') {
        const type = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
        if (type !== 'application/json') {
          state.reason = 'unsupported_media_type';
          res.setHeader('connection', 'close');
          sendError(res, clientError(415, 'Content-Type must be application/json'));
          return;
        }
        // Every procedure that takes a body needs a token: one that is missing or unknown is
        // refused before a byte of the body is read or inflated, so requests without a token
        // cannot make the server unpack bodies (64 MiB each) into memory.
        const refusal = await authenticationProblem(req, state);
        if (refusal) {
          state.reason = refusal.domainCode?.toLowerCase() ?? REASON_BY_STATUS[refusal.httpStatus];
          res.setHeader('connection', 'close');
          // As on tRPC's own answers: a client that may retry is told when.
          if (refusal.retryable) res.setHeader('retry-after', '5');
          sendError(res, refusal);
          return;
        }
        try {
          const body = await readBody(req, opts.limits, opts.bodyBudget);
          // The text, and what tRPC parses from it, live until the answer is sent.
          if (res.closed) body.ticket.release();
          else res.once('close', body.ticket.release);
          state.body = { wire: body.wireBytes, inflated: body.inflatedBytes };
          state.textCheckNeeded = mayHoldUnstorableText(body.text);
          (req as IncomingMessage & { body?: string }).body = body.text;
        } catch (error) {
          if (!(error instanceof BodyError)) throw error;
          state.reason = error.reason;
          res.setHeader('connection', 'close');
          if (error.status === 429) {
            // Spread over 1 to 5 s, so the senders turned away together do not return together.
            res.setHeader('retry-after', String(1 + Math.floor(Math.random() * 5)));
            sendError(res, {
              trpcCode: 'TOO_MANY_REQUESTS',
              httpStatus: 429,
              domainCode: 'RATE_LIMITED',
              message: error.message,
              retryable: true,
              field: undefined,
            });
          } else {
            sendError(res, clientError(error.status, error.message));
          }
          return;
        }
      }
      trpc(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, clientError(405, `${req.method} is not allowed on ${pathname}`));
      return;
    }
    switch (pathname) {
      case '/healthz':
        sendJson(res, 200, { ok: true });
        return;
      case '/readyz': {
        const r = await opts.readiness();
        if (r.error !== undefined) state.log.warn({ err: r.error }, `not ready: ${r.detail}`);
        // A probe's answer, not a request the database failed: its own reason on /metrics.
        if (!r.ready) state.reason = 'not_ready';
        sendJson(res, r.ready ? 200 : 503, { ready: r.ready, detail: r.detail });
        return;
      }
      case '/metrics': {
        const text = await (opts.metricsText ?? (() => opts.metrics.registry.metrics()))();
        res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
        res.end(text);
        return;
      }
      default:
        sendError(res, clientError(404, `no such path: ${pathname.slice(0, 200)}`));
    }
  }
}

/** Whether a failure came from Postgres itself: a server error with a severity and a SQLSTATE. */
function hasSqlState(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Object; depth++) {
    const { code, severity } = current as { code?: unknown; severity?: unknown };
    if (typeof severity === 'string' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

const CLIENT_ERRORS = {
  400: ['BAD_REQUEST', 'INVALID_INPUT'],
  404: ['NOT_FOUND', 'NOT_FOUND'],
  405: ['METHOD_NOT_SUPPORTED', undefined],
  408: ['TIMEOUT', undefined],
  413: ['PAYLOAD_TOO_LARGE', 'BODY_TOO_LARGE'],
  415: ['UNSUPPORTED_MEDIA_TYPE', 'UNSUPPORTED_ENCODING'],
} as const;

function clientError(status: keyof typeof CLIENT_ERRORS, message: string): ErrorDescription {
  const [trpcCode, domainCode] = CLIENT_ERRORS[status];
  return { trpcCode, httpStatus: status, domainCode, message, retryable: false, field: undefined };
}

function sendError(res: ServerResponse, d: ErrorDescription): void {
  sendJson(res, d.httpStatus, { error: errorShape(d, undefined) });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
