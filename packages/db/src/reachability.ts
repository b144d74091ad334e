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
 *
 * An answering database does not prove that every connection to it still works: after a failover
 * that moved the database's address, or a firewall that forgot the pool's flows, the connections
 * opened before stay silent forever while new ones (the check's among them) work. So operations
 * may say where they run (`track`'s `place`), and once one of them has waited `2 × stallMs`, the
 * check also looks at those places (`check`'s `suspects`) and may name some dead; the operations
 * there are then given up like those of an unreachable database, the others go on.
 */

/** The error of a query given up on because the database stopped answering. */
export class DatabaseUnreachable extends Error {
  readonly code = 'DATABASE_UNREACHABLE';
  constructor(message = 'the database is not answering') {
    super(message);
    this.name = 'DatabaseUnreachable';
  }
}

/** How often `responsiveDeadline` looks at the clock. */
const DEADLINE_SLICE_MS = 100;

/**
 * Calls `onTimeout` once this process has had `ms` of time in which it could have read an answer,
 * unless cancelled (the returned function). A stretch in which the event loop was blocked (a long
 * synchronous decode of a big result, a garbage-collection pause) counts for one slice only:
 * an answer that arrived meanwhile waits unread in its socket, and Node runs due timers before
 * it reads sockets, so a plain timer fired after the block beats the answer that ended the wait.
 * Once the time is spent, one more turn of reading sockets comes before `onTimeout` (a
 * `setImmediate` runs after the loop's poll phase), so an answer already received wins.
 */
export function responsiveDeadline(ms: number, onTimeout: () => void): () => void {
  let spent = 0;
  let last = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const tick = () => {
    const now = performance.now();
    spent += Math.min(now - last, 2 * DEADLINE_SLICE_MS);
    last = now;
    if (spent >= ms) immediate = setImmediate(onTimeout);
    else timer = setTimeout(tick, Math.min(DEADLINE_SLICE_MS, ms - spent));
  };
  timer = setTimeout(tick, Math.min(DEADLINE_SLICE_MS, ms));
  return () => {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}

export interface ReachabilityWatchOptions<P> {
  /** how long queries may wait with no answer from the database before it is checked */
  stallMs: number;
  /**
   * Resolves when the database answers, rejects when it cannot be reached (bounded in time).
   * `suspects` are the places of the operations that have waited `2 × stallMs` or more; when the
   * check finds some of them dead, it resolves to a test of the places whose operations to give up.
   */
  check(suspects: readonly P[]): Promise<((place: P) => boolean) | undefined>;
}

export interface TrackedOperation {
  /**
   * The operation is over; `answered` when the database answered (a result or an error of its
   * own), which shows it is reachable.
   */
  settle(answered: boolean): void;
}

type Pending<P> = {
  since: number;
  place: P | undefined;
  abort(error: DatabaseUnreachable): void;
  done: boolean;
};

export class ReachabilityWatch<P = never> {
  readonly #stallMs: number;
  readonly #check: ReachabilityWatchOptions<P>['check'];
  readonly #pending = new Set<Pending<P>>();
  #lastAnswer = performance.now();
  #lastCheck = Number.NEGATIVE_INFINITY;
  #down = false;
  #checking = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: ReachabilityWatchOptions<P>) {
    this.#stallMs = opts.stallMs;
    this.#check = opts.check;
  }

  /** Whether the last check found the database unreachable (and none has answered since). */
  get down(): boolean {
    return this.#down;
  }

  /**
   * Starts watching an operation; `abort` is called, at most once, when it is given up on.
   * `place` says where it runs, for the check to tell whether that still works (see `check`).
   * Throws `DatabaseUnreachable` at once while the database is known to be unreachable.
   */
  track(abort: (error: DatabaseUnreachable) => void, place?: P): TrackedOperation {
    if (this.#down) throw new DatabaseUnreachable();
    const op: Pending<P> = { since: performance.now(), place, abort, done: false };
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
      let oldestPlaced = Number.POSITIVE_INFINITY;
      for (const op of this.#pending) {
        oldest = Math.min(oldest, op.since);
        if (op.place !== undefined) oldestPlaced = Math.min(oldestPlaced, op.since);
      }
      // the database silent as a whole while work waits
      due = Math.max(this.#lastAnswer, oldest) + this.#stallMs;
      // work waiting long where it runs, however the rest fares; at most one check per `stallMs`
      if (oldestPlaced !== Number.POSITIVE_INFINITY) {
        const suspectDue = Math.max(
          oldestPlaced + 2 * this.#stallMs,
          this.#lastCheck + this.#stallMs,
        );
        due = Math.min(due, suspectDue);
      }
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
    const suspects: P[] = [];
    for (const op of this.#pending) {
      if (op.place !== undefined && now - op.since >= 2 * this.#stallMs) suspects.push(op.place);
    }
    if (!this.#down && !(silent && stalled) && suspects.length === 0) {
      this.#schedule();
      return;
    }
    this.#checking = true;
    const waiting = [...this.#pending];
    let reachable: boolean;
    let dead: ((place: P) => boolean) | undefined;
    try {
      dead = await this.#check(suspects);
      reachable = true;
    } catch {
      reachable = false;
    }
    this.#checking = false;
    this.#lastCheck = performance.now();
    if (reachable) {
      this.#down = false;
      this.#lastAnswer = performance.now();
      // all pending work, not only that seen before the check: more may have been queued since
      // on a connection found dead
      if (dead && !this.#closed) {
        const there = [...this.#pending].filter((op) => op.place !== undefined && dead(op.place));
        this.#giveUp(there);
      }
    } else if (!this.#closed && (this.#down || (silent && stalled))) {
      this.#down = true;
      this.#giveUp(waiting);
    }
    // (a check that failed while other connections answered proves nothing: the probe's own
    // connection may be the one in trouble)
    this.#schedule();
  }

  #giveUp(ops: Iterable<Pending<P>>): void {
    const error = new DatabaseUnreachable();
    for (const op of ops) {
      if (op.done) continue;
      op.done = true;
      this.#pending.delete(op);
      op.abort(error);
    }
  }
}
