import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Snapshot } from '@fleetpmap/protocol';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { PushClient, PushOutcome } from './push.ts';
import type { Spool, SpoolEntry } from './spool.ts';

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

export interface SenderStats {
  /** Snapshots the server acknowledged (stored or already stored). */
  acknowledged: number;
  duplicates: number;
  /** Snapshots the server refused for good (4xx other than 429): logged and dropped. */
  rejected: number;
  /** Compressed bytes sent, every attempt included. */
  wireBytes: number;
  retries: number;
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
  /** Called with each snapshot id once the server has acknowledged it. */
  onAcknowledged?: (snapshotId: string, duplicate: boolean) => void;
}

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
  readonly #o: Required<Omit<SenderOptions, 'onAcknowledged'>> &
    Pick<SenderOptions, 'onAcknowledged'>;
  /** Gzipped JSON, like the spool's files: a waiting snapshot costs its compressed size only. */
  readonly #pending: { snapshotId: string; gz: Buffer }[] = [];
  #attempt = 0;
  #retryAtMono = 0;
  #wake: (() => void) | undefined;
  #lastFailure: string | undefined;
  /** Set while nothing may be delivered yet (the agent is still enrolling). */
  #held = false;

  constructor(opts: SenderOptions) {
    this.#o = {
      random: Math.random,
      baseDelayMs: 1000,
      maxDelayMs: 5 * 60_000,
      ...opts,
    };
  }

  get spool(): Spool {
    return this.#o.spool;
  }

  /** Snapshots not yet acknowledged (in memory or in the spool). */
  get backlog(): number {
    return this.#pending.length + this.#o.spool.count;
  }

  get lastFailure(): string | undefined {
    return this.#lastFailure;
  }

  /** Hands a snapshot over; it is pushed by `run`/`drain`, or spooled if older ones wait. */
  async submit(snapshot: Snapshot): Promise<void> {
    const item = {
      snapshotId: snapshot.snapshotId,
      gz: await gzip(Buffer.from(JSON.stringify(snapshot), 'utf8')),
    };
    if (this.#held || this.#o.spool.count > 0 || this.#inBackoff()) {
      await this.#spoolPut(item);
    } else {
      this.#pending.push(item);
    }
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

  async #spoolPut(item: { snapshotId: string; gz: Buffer }): Promise<void> {
    const { dropped } = await this.#o.spool.put(item.snapshotId, item.gz);
    for (const d of dropped) {
      this.#o.log.warn(
        { snapshotId: d.snapshotId, bytes: d.bytes, spoolDropped: this.#o.spool.droppedCount },
        'spool full: dropped the oldest snapshot',
      );
    }
  }

  /**
   * One delivery attempt of the oldest waiting snapshot. Returns 'idle' when nothing waits,
   * 'backoff' when the attempt failed in a retryable way (or a backoff is still running).
   */
  async step(): Promise<'sent' | 'idle' | 'backoff'> {
    if (this.#inBackoff()) return 'backoff';
    const entry = this.#o.spool.oldest();
    const first = this.#pending[0];
    if (!entry && !first) return 'idle';
    let snapshot: Snapshot;
    try {
      const gz = entry ? await this.#o.spool.read(entry) : (first?.gz ?? Buffer.alloc(0));
      snapshot = JSON.parse((await gunzip(gz)).toString('utf8'));
    } catch (err) {
      // A damaged file can never be delivered; keeping it would stall the whole queue.
      this.#o.log.error({ key: entry?.key, err: (err as Error).message }, 'unreadable snapshot');
      await this.#done(entry);
      this.stats.rejected++;
      return 'sent';
    }
    const outcome = await this.#o.client.push(snapshot);
    this.stats.wireBytes += outcome.wireBytes;
    if (outcome.ok) {
      await this.#done(entry);
      this.#attempt = 0;
      this.#lastFailure = undefined;
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
    if (!outcome.retryable) {
      await this.#done(entry);
      this.stats.rejected++;
      this.#o.log.error(
        { snapshotId: snapshot.snapshotId, status: outcome.status, err: outcome.message },
        'server refused the snapshot; dropped',
      );
      return 'sent';
    }
    this.#attempt++;
    this.stats.retries++;
    const delayMs = this.#delayMs(outcome);
    this.#retryAtMono = this.#o.clock.monoMs() + delayMs;
    // Everything still in memory goes to disk now, so it survives a restart during the outage.
    while (this.#pending.length > 0) {
      const p = this.#pending.shift();
      if (p) await this.#spoolPut(p);
    }
    this.#o.log.warn(
      {
        status: outcome.status,
        err: outcome.message,
        retryInMs: Math.round(delayMs),
        spooled: this.#o.spool.count,
        spoolBytes: this.#o.spool.totalBytes,
      },
      'push failed; will retry',
    );
    return 'backoff';
  }

  async #done(entry: SpoolEntry | undefined): Promise<void> {
    if (entry) await this.#o.spool.remove(entry);
    else this.#pending.shift();
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

  /** Delivers until `signal` aborts, sleeping while idle or backing off. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const r = await this.step();
      if (r === 'sent') continue;
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
      const r = await this.step();
      if (r === 'sent') continue;
      if (r === 'idle') break;
      const wait = this.#retryAtMono - this.#o.clock.monoMs();
      if (this.#o.clock.monoMs() + wait > deadlineMono) break;
      await this.#o.clock.sleep(Math.max(0, wait), signal);
    }
    await this.persistPending();
    return this.backlog === 0;
  }

  async persistPending(): Promise<void> {
    while (this.#pending.length > 0) {
      const p = this.#pending.shift();
      if (p) await this.#spoolPut(p);
    }
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
