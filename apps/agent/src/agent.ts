import { writeFile } from 'node:fs/promises';
import type { Host, Snapshot } from '@fleetpmap/protocol';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { Collector, type CycleResult, type TierConfig } from './collector.ts';
import type { ProcSource } from './proc-source.ts';
import type { Sender } from './sender.ts';
import { type AgentCost, SnapshotPacker } from './snapshot.ts';

export interface AgentOptions {
  source: ProcSource;
  clock: Clock;
  log: Logger;
  tiers: TierConfig;
  hostName: string;
  labels: Record<string, string>;
  version: string;
  cheapIntervalMs: number;
  /** Where snapshots go: the sender (push + spool), or a sink such as a file for `--output`. */
  sender?: Sender;
  sink?: (snapshots: Snapshot[]) => Promise<void>;
  maxBodyBytes?: number;
  /** Print one line of the agent's own cost per cycle to stderr. */
  stats?: boolean;
  /** Force the full tier on the first cycle (`--full`). */
  fullFirst?: boolean;
  /** Keep each cycle's parts in its report (tests); otherwise they are not retained. */
  keepSnapshots?: boolean;
}

/** One cycle's outcome, for logs, `--stats` and tests. */
export interface CycleReport {
  result: CycleResult;
  snapshotIds: string[];
  snapshots: Snapshot[];
  cost: AgentCost;
}

/**
 * Runs collection cycles on the cheap interval and hands each cycle's snapshots over. Collection
 * never waits for the server: the sender delivers (or spools) in its own loop.
 */
export class Agent {
  readonly #o: AgentOptions;
  readonly #collector: Collector;
  #host: Host | undefined;
  #cycles = 0;

  constructor(opts: AgentOptions) {
    this.#o = opts;
    this.#collector = new Collector(opts.source, opts.clock, opts.tiers);
  }

  async #hostFacts(takenAtMs: number): Promise<Host> {
    // Boot id and kernel only change with a reboot, which also restarts the agent.
    if (!this.#host) {
      const facts = await this.#o.source.readHost();
      this.#host = {
        name: this.#o.hostName,
        ...facts,
        ...(Object.keys(this.#o.labels).length > 0 ? { labels: this.#o.labels } : {}),
      };
    }
    // The kernel derives btime from the wall clock, so it is read again each cycle: a clock set
    // after the agent started (NTP's first step on a host without a real-time clock) moves it.
    // A boot time after the snapshot's own time is such a step between the two reads, and the
    // protocol refuses it: the snapshot goes without one.
    const bootTimeMs = await this.#o.source.readBootTimeMs();
    if (bootTimeMs === undefined || bootTimeMs > takenAtMs) return this.#host;
    return { ...this.#host, bootTimeMs };
  }

  async runCycle(opts: { forceFull?: boolean } = {}): Promise<CycleReport> {
    const { clock, log, sender, sink } = this.#o;
    const takenAtMs = clock.nowMs();
    const cpu0 = process.cpuUsage();
    const host = await this.#hostFacts(takenAtMs);
    const forceFull = opts.forceFull ?? (this.#cycles === 0 && this.#o.fullFirst === true);
    const packer = new SnapshotPacker({
      takenAtMs,
      host,
      version: this.#o.version,
      ...(this.#o.maxBodyBytes !== undefined ? { maxBodyBytes: this.#o.maxBodyBytes } : {}),
    });
    const snapshotIds: string[] = [];
    const snapshots: Snapshot[] = [];
    // Parts leave as soon as they are full: a cycle of many full maps is never all in memory.
    const deliver = async (part: Snapshot) => {
      snapshotIds.push(part.snapshotId);
      if (this.#o.keepSnapshots) snapshots.push(part);
      if (sink) await sink([part]);
      if (sender) await sender.submit(part);
    };
    const result = await this.#collector.cycle({
      forceFull,
      onRecord: async (r) => {
        const closed = packer.add(r);
        if (closed) await deliver(closed);
      },
    });
    this.#cycles++;
    const cpu = process.cpuUsage(cpu0);
    const cost: AgentCost = {
      tiers: result.tiers,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      rssKb: Math.round(process.memoryUsage.rss() / 1024),
      wireBytes: sender?.stats.wireBytes ?? 0,
      acknowledged: sender?.stats.acknowledged ?? 0,
      rejected: sender?.stats.rejected ?? 0,
      spool: {
        count: sender?.spool.count ?? 0,
        bytes: sender?.spool.totalBytes ?? 0,
        dropped: sender?.spool.droppedCount ?? 0,
      },
    };
    for (const part of packer.finish({
      collectMs: result.collectMs,
      skipped: result.skipped,
      cost,
    })) {
      await deliver(part);
    }
    const line = {
      processes: result.processCount,
      mappings: result.mappingCount,
      skipped: result.skipped.length,
      parts: snapshotIds.length,
      collectMs: Math.round(result.collectMs),
      cheap: result.tiers.cheap,
      rollup: result.tiers.rollup,
      full: result.tiers.full,
      cpuMs: cost.cpuMs,
      rssKb: cost.rssKb,
      wireBytes: cost.wireBytes,
      spooled: cost.spool.count,
      spoolDropped: cost.spool.dropped,
    };
    log.info({ ...line, snapshotIds }, 'cycle');
    if (this.#o.stats) {
      process.stderr.write(`fleetpmap-agent stats ${JSON.stringify(line)}\n`);
    }
    return { result, snapshotIds, snapshots, cost };
  }

  /** Cycles every `cheapIntervalMs` (measured start to start) until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, log } = this.#o;
    while (!signal.aborted) {
      const start = clock.monoMs();
      try {
        await this.runCycle();
      } catch (err) {
        // A cycle that failed as a whole (e.g. the proc root vanished) must not end the agent.
        log.error({ err: (err as Error).message }, 'cycle failed');
      }
      const wait = this.#o.cheapIntervalMs - (clock.monoMs() - start);
      await clock.sleep(Math.max(0, wait), signal);
    }
  }
}

/** `--output FILE|-`: one JSON document per snapshot part, one per line. */
export function fileSink(path: string): (snapshots: Snapshot[]) => Promise<void> {
  return async (snapshots) => {
    const text = snapshots.map((s) => JSON.stringify(s)).join('\n');
    if (path === '-') {
      await new Promise<void>((resolve, reject) =>
        process.stdout.write(`${text}\n`, (err) => (err ? reject(err) : resolve())),
      );
    } else {
      await writeFile(path, `${text}\n`, { flag: 'a', mode: 0o600 });
    }
  };
}
