import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Snapshot } from '@fleetpmap/protocol';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { PushClient, PushOutcome } from './push.ts';
import type { DroppedEntry, PutResult, ReopenResult, Spool, SpoolEntry } from './spool.ts';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

/** Logs the snapshots `spool` dropped to make room, each with why, and its drop count so far. */
export function logSpoolDrops(
  log: Logger,
  spool: Pick<Spool, 'droppedCount'>,
  dropped: readonly DroppedEntry[],
): void {
  for (const d of dropped) {
    const fields = {
      snapshotId: d.snapshotId,
      bytes: d.bytes,
      reason: d.reason,
      spoolDropped: spool.droppedCount,
    };
    if (d.reason === 'too big') {
      log.warn(fields, 'snapshot bigger than the whole spool; dropped');
    } else if (d.reason === 'set aside, disk full') {
      log.warn(
        fields,
        'disk full: removed the oldest snapshot set aside in rejected/ to make room',
      );
    } else if (d.reason === 'disk full') {
      log.warn(fields, 'disk full: dropped the oldest spooled snapshot to make room');
    } else {
      log.warn(fields, 'spool full: dropped the oldest snapshot');
    }
  }
}

export interface SenderStats {
  /** Snapshots the server acknowledged (stored or already stored). */
  acknowledged: number;
  duplicates: number;
  /**
   * Snapshots the server refused for good (400, 413, …: logged and dropped), failed on repeatedly
   * (other 5xx: set aside in the spool's `rejected/`), and damaged spool files.
   */
  rejected: number;
  /** Compressed bytes sent, every attempt included. */
  wireBytes: number;
  retries: number;
}

/** Snapshots waiting for delivery, on disk or in memory, as the agent's cost reports them. */
export interface QueueState {
  readonly count: number;
  readonly totalBytes: number;
  readonly droppedCount: number;
}

export interface SenderOptions {
  client: PushClient;
  spool: Spool;
  clock: Clock;
  log: Logger;
  /** Uniform [0, 1), for jitter. */
  random?: () => number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * The agent's host name now. A queued snapshot carrying another (spooled before a rename, or a
   * spool shared with another host) is set aside in `rejected/` instead of being pushed.
   */
  hostName?: string;
  /** Called with each snapshot id once the server has acknowledged it. */
  onAcknowledged?: (snapshotId: string, duplicate: boolean) => void;
}

/**
 * Snapshots waiting in memory for their turn, besides the spool: more than this (a server slower
 * than the agent's cycle) and they all go to the spool, where the queue is capped in bytes.
 */
export const MAX_PENDING = 4;
export const MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * A server error other than 502/503/504 may be about this one snapshot: after this many attempts
 * it is set aside, so that one bad snapshot cannot block the queue behind it.
 */
export const SERVER_ERROR_ATTEMPTS = 3;

interface Pending {
  snapshotId: string;
  gz: Buffer;
  /** Set once the item was moved to the spool while it was being pushed: its entry there. */
  spooled?: SpoolEntry | null;
  /** Acknowledged (or given up) while it was being moved to the spool. */
  done?: boolean;
}

type StepResult = 'sent' | 'idle' | 'backoff' | 'stopped';

/**
 * Delivers snapshots in the order they were made, never blocking collection. A snapshot is pushed
 * straight away when nothing older waits; otherwise, and whenever a push fails in a retryable way,
 * it goes to the spool, which is replayed oldest first after an exponential, jittered backoff (or
 * the server's Retry-After). The server dedupes on snapshotId, so a replay after a lost answer
 * stores nothing twice.
 */
export class Sender {
  readonly stats: SenderStats = {
    acknowledged: 0,
    duplicates: 0,
    rejected: 0,
    wireBytes: 0,
    retries: 0,
  };
  readonly #o: Required<Omit<SenderOptions, 'onAcknowledged' | 'hostName'>> &
    Pick<SenderOptions, 'onAcknowledged' | 'hostName'>;
  /**
   * Gzipped JSON, like the spool's files: a waiting snapshot costs its compressed size only. At
   * most MAX_PENDING of them; the one being pushed stays here until it is acknowledged.
   */
  #pending: Pending[] = [];
  #pendingBytes = 0;
  #attempt = 0;
  #retryAtMono = 0;
  #wake: (() => void) | undefined;
  #lastFailure: string | undefined;
  /** Set while nothing may be delivered yet (the agent is still enrolling). */
  #held = false;
  /** The status (401, 403) with which the server refuses the agent token, while it does. */
  #tokenRefused: number | undefined;
  /** Set while the spool cannot be written (snapshots wait in memory). */
  #spoolWriteError: string | undefined;
  /** Server errors on the snapshot at the head of the queue. */
  #headErrors = { snapshotId: '', count: 0 };
  /** Set during a step: its queue entry is in use, so the spool must not change over. */
  #stepping = false;
  /** Spool writes, one after the other in the order they were asked for. */
  #putTail: Promise<unknown> = Promise.resolve();

  constructor(opts: SenderOptions) {
    this.#o = {
      random: Math.random,
      baseDelayMs: 1000,
      maxDelayMs: 5 * 60_000,
      ...opts,
    };
  }

  /**
   * Everything not yet acknowledged: the spool and the few snapshots waiting in memory. This is
   * what `agent.cost.spool` and the cycle log report.
   */
  get spool(): QueueState {
    const spool = this.#o.spool;
    return {
      count: spool.count + this.#pending.length,
      totalBytes: spool.totalBytes + this.#pendingBytes,
      droppedCount: spool.droppedCount,
    };
  }

  /** Snapshots waiting in memory (not in the spool) for their turn; at most MAX_PENDING. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Snapshots not yet acknowledged (in memory or in the spool). */
  get backlog(): number {
    return this.spool.count;
  }

  get lastFailure(): string | undefined {
    return this.#lastFailure;
  }

  /** Hands a snapshot over; it is pushed by `run`/`drain`, or spooled if older ones wait. */
  async submit(snapshot: Snapshot): Promise<void> {
    const item: Pending = {
      snapshotId: snapshot.snapshotId,
      gz: await gzip(Buffer.from(JSON.stringify(snapshot), 'utf8')),
    };
    if (this.#held || this.#o.spool.count > 0 || this.#inBackoff()) {
      await this.#spoolPut(item);
    } else {
      this.#pending.push(item);
      this.#pendingBytes += item.gz.length;
      // The server takes longer than the agent's cycle: the queue goes on on disk, capped.
      if (this.#pending.length > MAX_PENDING || this.#pendingBytes > MAX_PENDING_BYTES) {
        await this.#spill();
      }
    }
    // Between pushes only: a backoff can hold the next step for minutes, and what waits in
    // memory should reach the disk as soon as it can.
    const reopen = this.#o.spool.reopen?.bind(this.#o.spool);
    if (reopen && !this.#stepping) await this.#reopenSpool(reopen);
    this.#wake?.();
  }

  /**
   * While held, everything submitted goes to the spool, whose size is capped, rather than to
   * memory: the agent may wait hours for a server to enroll with and keeps collecting meanwhile.
   */
  hold(held: boolean): void {
    this.#held = held;
  }

  #inBackoff(): boolean {
    return this.#o.clock.monoMs() < this.#retryAtMono;
  }

  /**
   * Moves everything waiting in memory to the spool, in order (the one being pushed too: if its
   * push succeeds, its spool entry is removed). The writes are queued at once, so that a snapshot
   * submitted meanwhile lands behind them.
   */
  async #spill(): Promise<void> {
    const items = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    await Promise.all(
      items.map(async (p) => {
        const entry = await this.#spoolPut(p);
        if (p.done && entry) await this.#o.spool.remove(entry);
        else p.spooled = entry ?? null;
      }),
    );
  }

  /** Queues in the spool, after every write asked for before; never rejects. */
  #spoolPut(item: { snapshotId: string; gz: Buffer }): Promise<SpoolEntry | undefined> {
    const put = this.#putTail.then(() => this.#put(item));
    this.#putTail = put;
    return put;
  }

  /** A failed write keeps the snapshot in memory, in the spool; only a bug can lose it here. */
  async #put(item: { snapshotId: string; gz: Buffer }): Promise<SpoolEntry | undefined> {
    const spool = this.#o.spool;
    let result: PutResult;
    try {
      result = await spool.put(item.snapshotId, item.gz);
    } catch (err) {
      this.#o.log.error(
        { snapshotId: item.snapshotId, err: (err as Error).message },
        'could not queue the snapshot for delivery; dropped',
      );
      return undefined;
    }
    this.#logDrops(result);
    // Nothing was written or tried (too big for the spool): says nothing about the disk.
    if (result.entry === undefined && result.writeError === undefined) return undefined;
    this.#noteWrite(result.writeError);
    return result.entry;
  }

  /** Logs the spool's writes failing, and working again, once per change. */
  #noteWrite(writeError: string | undefined): void {
    const spool = this.#o.spool;
    if (writeError !== undefined && this.#spoolWriteError === undefined) {
      this.#o.log.error(
        { err: writeError, inMemory: spool.memoryCount },
        'spool write failed; undelivered snapshots are kept in memory (bounded) until it works again',
      );
    } else if (writeError === undefined && this.#spoolWriteError !== undefined) {
      this.#o.log.info({ spooled: spool.count }, 'spool writable again');
    }
    this.#spoolWriteError = writeError;
  }

  /**
   * A spool directory that could not be opened at start is tried again (at each step, and at
   * each submit outside a step: where no entry of the queue is in use), after every spool write
   * asked for before. Once it opens, what a previous run left there is replayed first; what
   * waits in memory for its turn is newer than all of it and goes to the spool behind it.
   */
  async #reopenSpool(reopen: () => Promise<ReopenResult | undefined>): Promise<void> {
    const run = this.#putTail.then(reopen);
    this.#putTail = run.catch(() => undefined);
    let result: ReopenResult | undefined;
    try {
      result = await run;
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'could not open the spool directory');
      return;
    }
    if (!result) return;
    this.#logDrops({ dropped: result.dropped });
    this.#o.log.info(
      {
        dir: result.dir,
        restored: result.restored,
        moved: result.moved,
        spooled: this.#o.spool.count,
      },
      'spool directory usable again; replaying it',
    );
    if (result.writeError !== undefined) this.#noteWrite(result.writeError);
    if (this.#pending.length > 0) await this.#spill();
  }

  #logDrops(result: Pick<PutResult, 'dropped'>): void {
    logSpoolDrops(this.#o.log, this.#o.spool, result.dropped);
  }

  /**
   * One delivery attempt of the oldest waiting snapshot. Returns 'idle' when nothing waits,
   * 'backoff' when the attempt failed in a retryable way (or a backoff is still running),
   * 'stopped' when `signal` aborted the push (the snapshot stays queued).
   */
  async step(signal?: AbortSignal): Promise<StepResult> {
    this.#stepping = true;
    try {
      const reopen = this.#o.spool.reopen?.bind(this.#o.spool);
      if (reopen) await this.#reopenSpool(reopen);
      return await this.#step(signal);
    } finally {
      this.#stepping = false;
    }
  }

  async #step(signal?: AbortSignal): Promise<StepResult> {
    if (this.#inBackoff()) return 'backoff';
    const entry = this.#o.spool.oldest();
    const item = entry ? undefined : this.#pending[0];
    if (!entry && !item) return 'idle';
    let gz: Buffer;
    try {
      gz = entry ? await this.#o.spool.read(entry) : (item?.gz ?? Buffer.alloc(0));
    } catch (err) {
      await this.#done(entry, item);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Removed by someone else (an operator cleaning up): nothing to deliver, nothing refused.
        this.#o.log.warn({ key: entry?.key }, 'spooled snapshot vanished before it was sent');
        return 'sent';
      }
      this.#o.log.error({ key: entry?.key, err: (err as Error).message }, 'unreadable snapshot');
      this.stats.rejected++;
      return 'sent';
    }
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse((await gunzip(gz)).toString('utf8'));
    } catch (err) {
      // A damaged file can never be delivered; keeping it would stall the whole queue.
      this.#o.log.error({ key: entry?.key, err: (err as Error).message }, 'unreadable snapshot');
      await this.#done(entry, item);
      this.stats.rejected++;
      return 'sent';
    }
    const snapshotHost = (snapshot as { host?: { name?: unknown } }).host?.name;
    const hostName = this.#o.hostName;
    if (hostName !== undefined && snapshotHost !== hostName) {
      // Another host's snapshot: the token (bound to this host) could never deliver it, and
      // holding the queue for it would stop every snapshot behind it.
      await this.#setAside(snapshot.snapshotId, gz, entry, item, {
        hostName: snapshotHost,
        agentHostName: hostName,
        reason: 'the snapshot is of another host than this agent; not pushed',
      });
      return 'sent';
    }
    const outcome = await this.#o.client.push(snapshot, signal);
    this.stats.wireBytes += outcome.wireBytes;
    if (outcome.ok) {
      await this.#done(entry, item);
      this.#attempt = 0;
      this.#lastFailure = undefined;
      if (this.#tokenRefused !== undefined) {
        this.#o.log.info({ backlog: this.backlog }, 'server accepts the agent token again');
        this.#tokenRefused = undefined;
      }
      this.stats.acknowledged++;
      if (outcome.duplicate) this.stats.duplicates++;
      this.#o.onAcknowledged?.(snapshot.snapshotId, outcome.duplicate);
      this.#o.log.debug(
        {
          snapshotId: snapshot.snapshotId,
          wireBytes: outcome.wireBytes,
          duplicate: outcome.duplicate,
        },
        'pushed',
      );
      return 'sent';
    }
    this.#lastFailure = outcome.message;
    if (signal?.aborted) {
      // Stopping: the snapshot stays queued and everything in memory goes to the spool.
      await this.#spill();
      this.#o.log.info(
        { snapshotId: snapshot.snapshotId, spooled: this.#o.spool.count },
        'push stopped by shutdown; the snapshot stays in the spool',
      );
      return 'stopped';
    }
    const status = outcome.status;
    if (status === 403 && outcome.field === 'host.name' && hostName !== undefined) {
      // The agent's own host name refused: the token is another host's, and every snapshot
      // would be refused alike. Held in the spool until the agent has its own host's token.
      return this.#holdForToken(
        status,
        `${outcome.message} (the token is not for this agent's host name ${hostName})`,
      );
    }
    if (status === 403 && outcome.field === 'host.name') {
      // The token is refused for this snapshot's host only, not as a whole.
      await this.#setAside(snapshot.snapshotId, gz, entry, item, {
        status,
        err: outcome.message,
        hostName: snapshotHost,
        ...(hostName !== undefined ? { agentHostName: hostName } : {}),
        reason: 'the agent token may not write this snapshot’s host',
      });
      return 'sent';
    }
    if (status === 401 || status === 403) return this.#holdForToken(status, outcome.message);
    const serverError = status !== undefined && status >= 500 && !outcome.retryable;
    if (serverError) {
      if (this.#headErrors.snapshotId !== snapshot.snapshotId) {
        this.#headErrors = { snapshotId: snapshot.snapshotId, count: 0 };
      }
      this.#headErrors.count++;
      if (this.#headErrors.count >= SERVER_ERROR_ATTEMPTS) {
        await this.#setAside(snapshot.snapshotId, gz, entry, item, {
          status,
          err: outcome.message,
          attempts: SERVER_ERROR_ATTEMPTS,
          reason: 'server failed on this snapshot every time',
        });
        return 'sent';
      }
    } else if (!outcome.retryable) {
      await this.#done(entry, item);
      this.stats.rejected++;
      this.#o.log.error(
        { snapshotId: snapshot.snapshotId, status, err: outcome.message },
        'server refused the snapshot; dropped',
      );
      return 'sent';
    }
    return this.#backoff(outcome, 'push failed; will retry');
  }

  /**
   * 401/403: the token, not the snapshot, is refused, and every snapshot would be. Delivery waits
   * (the queue goes on in the spool) and tries again at the longest backoff, until an operator
   * gives the agent a token the server takes.
   */
  async #holdForToken(status: number, message: string): Promise<StepResult> {
    this.#retryAtMono = this.#o.clock.monoMs() + this.#o.maxDelayMs;
    this.stats.retries++;
    await this.#spill();
    if (this.#tokenRefused !== status) {
      this.#tokenRefused = status;
      this.#o.log.error(
        {
          status,
          err: message,
          retryInMs: this.#o.maxDelayMs,
          spooled: this.#o.spool.count,
        },
        `the server refuses the agent token (${status}): delivery held, snapshots stay in the ` +
          'spool; give the agent a valid token (--token-file)',
      );
    }
    return 'backoff';
  }

  /**
   * A snapshot that cannot be delivered (the server failed on it again and again, or it is of
   * another host) goes to `rejected/`, out of the queue; the log line says why.
   */
  async #setAside(
    snapshotId: string,
    gz: Buffer,
    entry: SpoolEntry | undefined,
    item: Pending | undefined,
    why: { reason: string; [field: string]: unknown },
  ): Promise<void> {
    const keptAt = await this.#o.spool.keepRejected(snapshotId, gz);
    await this.#done(entry, item);
    this.#headErrors = { snapshotId: '', count: 0 };
    this.#attempt = 0;
    this.stats.rejected++;
    const { reason, ...fields } = why;
    this.#o.log.error(
      { snapshotId, ...fields, keptAt },
      keptAt
        ? `${reason}; set aside, going on with the next`
        : `${reason}; dropped, going on with the next`,
    );
  }

  async #backoff(outcome: PushOutcome & { ok: false }, msg: string): Promise<StepResult> {
    this.#attempt++;
    this.stats.retries++;
    const delayMs = this.#delayMs(outcome);
    this.#retryAtMono = this.#o.clock.monoMs() + delayMs;
    // Everything still in memory goes to disk now, so it survives a restart during the outage.
    await this.#spill();
    this.#o.log.warn(
      {
        status: outcome.status,
        err: outcome.message,
        retryInMs: Math.round(delayMs),
        spooled: this.#o.spool.count,
        spoolBytes: this.#o.spool.totalBytes,
      },
      msg,
    );
    return 'backoff';
  }

  /** Takes a delivered (or given up) snapshot off the queue, wherever it waits by now. */
  async #done(entry: SpoolEntry | undefined, item: Pending | undefined): Promise<void> {
    if (entry) await this.#o.spool.remove(entry);
    if (!item) return;
    item.done = true;
    if (item.spooled) await this.#o.spool.remove(item.spooled);
    const i = this.#pending.indexOf(item);
    if (i >= 0) {
      this.#pending.splice(i, 1);
      this.#pendingBytes -= item.gz.length;
    }
  }

  #delayMs(outcome: PushOutcome & { ok: false }): number {
    if (outcome.retryAfterMs !== undefined) {
      return Math.min(this.#o.maxDelayMs, outcome.retryAfterMs);
    }
    const ceiling = Math.min(
      this.#o.maxDelayMs,
      this.#o.baseDelayMs * 2 ** Math.min(this.#attempt - 1, 30),
    );
    // "Equal jitter": at least half the ceiling, so a fleet does not return in lockstep.
    return ceiling / 2 + (ceiling / 2) * this.#o.random();
  }

  /** Delivers until `signal` aborts, sleeping while idle or backing off; aborts a push in flight. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const r = await this.step(signal);
      if (r === 'sent') continue;
      if (r === 'stopped') break;
      const waitMs = r === 'backoff' ? this.#retryAtMono - this.#o.clock.monoMs() : 3_600_000;
      await this.#sleepOrWake(Math.max(0, waitMs), signal);
    }
  }

  /**
   * Delivers what waits until the queue is empty or `deadlineMono` passes (for `--once` and
   * shutdown); whatever is left in memory is then written to the spool. True when nothing is left.
   */
  async drain(deadlineMono: number, signal?: AbortSignal): Promise<boolean> {
    while (this.backlog > 0 && !signal?.aborted) {
      const r = await this.step(signal);
      if (r === 'sent') continue;
      if (r === 'idle' || r === 'stopped') break;
      const wait = this.#retryAtMono - this.#o.clock.monoMs();
      if (this.#o.clock.monoMs() + wait > deadlineMono) break;
      await this.#o.clock.sleep(Math.max(0, wait), signal);
    }
    await this.persistPending();
    return this.backlog === 0;
  }

  /** Writes whatever waits in memory to the spool (at shutdown). */
  async persistPending(): Promise<void> {
    await this.#spill();
  }

  #sleepOrWake(ms: number, signal: AbortSignal): Promise<void> {
    const inner = new AbortController();
    const onAbort = () => inner.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    this.#wake = () => {
      // New work only matters when not backing off; a backoff ends on its own timer.
      if (!this.#inBackoff()) inner.abort();
    };
    return this.#o.clock.sleep(ms, inner.signal).finally(() => {
      this.#wake = undefined;
      signal.removeEventListener('abort', onAbort);
    });
  }
}
