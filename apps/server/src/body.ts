import type { IncomingMessage } from 'node:http';
import { createGunzip } from 'node:zlib';

export type BodyLimits = {
  /** bytes on the wire */
  maxBodyBytes: number;
  /** bytes after inflating a gzip body */
  maxInflatedBytes: number;
  /** a body of which no byte arrives for this long is refused with 408; none without it */
  idleTimeoutMs?: number;
};

/** Why a body was refused; `reason` is the metrics label. */
export class BodyError extends Error {
  readonly status: 400 | 408 | 413 | 415 | 429;
  readonly reason:
    | 'body_too_large'
    | 'inflated_too_large'
    | 'unsupported_encoding'
    | 'bad_gzip'
    | 'body_timeout'
    | 'bodies_in_flight'
    | 'aborted';
  /** how much had been inflated when the body was refused */
  readonly inflatedBytes: number;

  constructor(
    status: BodyError['status'],
    reason: BodyError['reason'],
    message: string,
    inflatedBytes = 0,
  ) {
    super(message);
    this.name = 'BodyError';
    this.status = status;
    this.reason = reason;
    this.inflatedBytes = inflatedBytes;
  }
}

export type Body = { text: string; wireBytes: number; inflatedBytes: number };

/** One body's share of a {@link BodyBudget}, held from admission until `release()`. */
export type BodyTicket = {
  /**
   * Counts `bytes` more of the body read (after inflation). True while the body may go on being
   * read: the budget has room, or this is the oldest body in flight, which is never held back.
   */
  grow(bytes: number): boolean;
  /** Resolves at the next release of another body: then there may be room again. */
  nextRelease(): Promise<void>;
  /** Gives the body's bytes back; idempotent. */
  release(): void;
};

/**
 * The bytes of request bodies the whole process holds at once. A body is admitted only if its
 * reservation (its declared Content-Length) fits beside the bodies in flight, or if no other is in
 * flight, so a body at the per-request maximum always gets in on its own. A body admitted is never
 * refused later: when it grows past its reservation (a gzip body inflating) and the budget is full,
 * it is held back (no more is read from its socket) until another body is released, and the oldest
 * body in flight is never held back, so they all finish.
 */
export type BodyBudget = {
  readonly limit: number;
  /** bytes counted against the budget now */
  readonly inFlight: number;
  /** bodies admitted and not yet released */
  readonly bodies: number;
  /** a ticket for a body reserving `reserve` bytes, or null when it does not fit */
  admit(reserve: number): BodyTicket | null;
};

export function createBodyBudget(limit: number): BodyBudget {
  let inFlight = 0;
  // Insertion order is admission order: the first is the oldest body in flight.
  const tickets = new Set<BodyTicket>();
  let waiting: (() => void)[] = [];
  return {
    limit,
    get inFlight() {
      return inFlight;
    },
    get bodies() {
      return tickets.size;
    },
    admit(reserve) {
      if (tickets.size > 0 && inFlight + Math.max(reserve, 1) > limit) return null;
      let counted = reserve;
      let read = 0;
      let released = false;
      inFlight += counted;
      const ticket: BodyTicket = {
        grow(bytes) {
          if (released) return true;
          read += bytes;
          if (read > counted) {
            inFlight += read - counted;
            counted = read;
          }
          return inFlight <= limit || tickets.values().next().value === ticket;
        },
        nextRelease: () => new Promise<void>((resolve) => waiting.push(resolve)),
        release() {
          if (released) return;
          released = true;
          tickets.delete(ticket);
          inFlight -= counted;
          const wake = waiting;
          waiting = [];
          for (const resolve of wake) resolve();
        },
      };
      tickets.add(ticket);
      return ticket;
    },
  };
}

/**
 * Reads a request body under both caps. A gzip body is inflated as it streams in and abandoned
 * the moment its output passes `maxInflatedBytes`, so a bomb costs at most that much memory.
 *
 * With a `budget`, the body is admitted against it before a byte is read (429 `bodies_in_flight`
 * when it does not fit) and its inflated bytes are counted as they come; the caller releases the
 * returned ticket once the request is answered (the body's text and what is parsed from it live
 * until then). On a refusal the ticket is released here.
 */
export async function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Body>;
export async function readBody(
  req: IncomingMessage,
  limits: BodyLimits,
  budget: BodyBudget,
): Promise<Body & { ticket: BodyTicket }>;
export async function readBody(
  req: IncomingMessage,
  limits: BodyLimits,
  budget?: BodyBudget,
): Promise<Body & { ticket?: BodyTicket }> {
  const encoding = (req.headers['content-encoding'] || 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new BodyError(
      415,
      'unsupported_encoding',
      `unsupported Content-Encoding "${encoding.slice(0, 40)}": send identity or gzip`,
    );
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBodyBytes) {
    throw new BodyError(
      413,
      'body_too_large',
      `body of ${declared} bytes is over the limit of ${limits.maxBodyBytes} bytes`,
    );
  }
  // A client gone while its token was looked up: a share taken now would wait for the idle
  // timer, since the socket's close has already been and will not come again.
  if (req.destroyed && !req.complete) {
    throw new BodyError(400, 'aborted', 'request body aborted');
  }
  let ticket: BodyTicket | undefined;
  if (budget) {
    const reserve = declared === undefined ? 0 : Number(declared) || 0;
    const admitted = budget.admit(reserve);
    if (!admitted) {
      throw new BodyError(
        429,
        'bodies_in_flight',
        `server busy: ${budget.inFlight} bytes of request bodies in flight (limit ${budget.limit}), retry later`,
      );
    }
    ticket = admitted;
  }
  const gzip = encoding !== 'identity';
  return new Promise<Body & { ticket?: BodyTicket }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let wireBytes = 0;
    let inflatedBytes = 0;
    let done = false;
    let heldBack = false;
    let idleTimer: NodeJS.Timeout | undefined;
    // 64 KiB output chunks: a quarter of the callbacks of the default, same cap granularity.
    const inflater = gzip ? createGunzip({ chunkSize: 64 * 1024 }) : null;

    const finish = (error: BodyError | null) => {
      if (done) return;
      done = true;
      clearTimeout(idleTimer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onRequestError);
      req.off('close', onRequestClose);
      if (inflater) inflater.destroy();
      if (error) {
        // Stop reading: the response carries `Connection: close`, so the rest is never drained.
        req.pause();
        ticket?.release();
        reject(error);
      } else {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ text, wireBytes, inflatedBytes, ...(ticket ? { ticket } : {}) });
      }
    };

    /** (Re)starts the wait for the next byte; not while the budget holds the body back. */
    const armIdleTimer = () => {
      if (limits.idleTimeoutMs === undefined || done) return;
      clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () =>
          finish(
            new BodyError(
              408,
              'body_timeout',
              `no byte of the body arrived for ${limits.idleTimeoutMs} ms`,
            ),
          ),
        limits.idleTimeoutMs,
      );
    };

    /** Counts `bytes` of body against the budget; when it is full, stops reading until room. */
    const count = (bytes: number) => {
      if (!ticket || heldBack || ticket.grow(bytes)) return;
      heldBack = true;
      clearTimeout(idleTimer);
      req.pause();
      inflater?.pause();
      const retry = (held: BodyTicket) => {
        if (done) return;
        if (!held.grow(0)) {
          held.nextRelease().then(() => retry(held));
          return;
        }
        heldBack = false;
        armIdleTimer();
        inflater?.resume();
        req.resume();
      };
      ticket.nextRelease().then(() => retry(ticket as BodyTicket));
    };

    const onData = (chunk: Buffer) => {
      armIdleTimer();
      wireBytes += chunk.length;
      if (wireBytes > limits.maxBodyBytes) {
        finish(
          new BodyError(
            413,
            'body_too_large',
            `body is over the limit of ${limits.maxBodyBytes} bytes`,
          ),
        );
        return;
      }
      if (inflater) inflater.write(chunk);
      else {
        chunks.push(chunk);
        count(chunk.length);
      }
    };
    const onEnd = () => {
      if (inflater) inflater.end();
      else {
        inflatedBytes = wireBytes;
        finish(null);
      }
    };
    const onRequestError = () => finish(new BodyError(400, 'aborted', 'request body aborted'));
    // A socket closed while the body was held back or incomplete: give its bytes back.
    const onRequestClose = () => {
      if (!req.complete) onRequestError();
    };

    if (inflater) {
      inflater.on('data', (out: Buffer) => {
        inflatedBytes += out.length;
        if (inflatedBytes > limits.maxInflatedBytes) {
          finish(
            new BodyError(
              413,
              'inflated_too_large',
              `gzip body inflates past the limit of ${limits.maxInflatedBytes} bytes`,
              inflatedBytes,
            ),
          );
          return;
        }
        chunks.push(out);
        count(out.length);
      });
      inflater.on('end', () => finish(null));
      inflater.on('error', (error: Error) =>
        finish(new BodyError(400, 'bad_gzip', `malformed gzip body: ${error.message}`)),
      );
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onRequestError);
    req.on('close', onRequestClose);
    armIdleTimer();
  });
}
