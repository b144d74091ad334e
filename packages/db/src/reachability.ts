/**
 * Deadlines for queries when the database cannot be reached.
 *
 * postgres.js has no per-query deadline: a query waits in its queue while the pool reconnects
 * (with a backoff growing to 20 s), and one sent on a connection to a host that went silent waits
 * for TCP to give up, a quarter of an hour later. A fixed per-query limit would also cut the long
 * work that is legitimate (partition maintenance, rollups, bulk loads, migrations). So the watch
 * here asks a different question: when the database has answered nothing for `stallMs` while
 * queries wait, is it still there? A separate one-connection client checks with `select 1`,
 * bounded by the connect timeout. If it answers, the waiting queries are merely slow and go on;
 * if not, every waiting query fails with `DatabaseUnreachable` (which the API answers with 503),
 * and new queries fail at once until a check, repeated every `stallMs`, gets an answer again.
 */

/** The error of a query given up on because the database stopped answering. */
export class DatabaseUnreachable extends Error {
  readonly code = 'DATABASE_UNREACHABLE';
  constructor(message = 'the database is not answering') {
    super(message);
    this.name = 'DatabaseUnreachable';
  }
}

export interface ReachabilityWatchOptions {
  /** how long queries may wait with no answer from the database before it is checked */
  stallMs: number;
  /** resolves when the database answers, rejects when it cannot be reached (bounded in time) */
  check(): Promise<void>;
}

export interface TrackedOperation {
  /**
   * The operation is over; `answered` when the database answered (a result or an error of its
   * own), which shows it is reachable.
   */
  settle(answered: boolean): void;
}

type Pending = { since: number; abort(error: DatabaseUnreachable): void; done: boolean };

export class ReachabilityWatch {
  readonly #stallMs: number;
  readonly #check: () => Promise<void>;
  readonly #pending = new Set<Pending>();
  #lastAnswer = performance.now();
  #lastCheck = Number.NEGATIVE_INFINITY;
  #down = false;
  #checking = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: ReachabilityWatchOptions) {
    this.#stallMs = opts.stallMs;
    this.#check = opts.check;
  }

  /** Whether the last check found the database unreachable (and none has answered since). */
  get down(): boolean {
    return this.#down;
  }

  /**
   * Starts watching an operation; `abort` is called, at most once, when it is given up on.
   * Throws `DatabaseUnreachable` at once while the database is known to be unreachable.
   */
  track(abort: (error: DatabaseUnreachable) => void): TrackedOperation {
    if (this.#down) throw new DatabaseUnreachable();
    const op: Pending = { since: performance.now(), abort, done: false };
    this.#pending.add(op);
    this.#schedule();
    return {
      settle: (answered) => {
        op.done = true;
        this.#pending.delete(op);
        if (answered) this.#lastAnswer = performance.now();
      },
    };
  }

  /** Stops checking; operations still tracked are left to their own outcome. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer || this.#checking || this.#closed) return;
    if (!this.#down && this.#pending.size === 0) return;
    let due = this.#lastCheck + this.#stallMs;
    if (!this.#down) {
      let oldest = Number.POSITIVE_INFINITY;
      for (const op of this.#pending) oldest = Math.min(oldest, op.since);
      due = Math.max(this.#lastAnswer + this.#stallMs, oldest + this.#stallMs);
    }
    const delay = Math.max(0, due - performance.now());
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, delay);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    const now = performance.now();
    const silent = now - this.#lastAnswer >= this.#stallMs;
    const stalled = [...this.#pending].some((op) => now - op.since >= this.#stallMs);
    if (!this.#down && !(silent && stalled)) {
      this.#schedule();
      return;
    }
    this.#checking = true;
    const waiting = [...this.#pending];
    let reachable: boolean;
    try {
      await this.#check();
      reachable = true;
    } catch {
      reachable = false;
    }
    this.#checking = false;
    this.#lastCheck = performance.now();
    if (reachable) {
      this.#down = false;
      this.#lastAnswer = performance.now();
    } else if (!this.#closed) {
      this.#down = true;
      const error = new DatabaseUnreachable();
      for (const op of waiting) {
        if (op.done) continue;
        op.done = true;
        this.#pending.delete(op);
        op.abort(error);
      }
    }
    this.#schedule();
  }
}
