import {
  type AgentCost,
  type Host,
  LIMITS,
  MAX_COMPRESSED_BODY_BYTES,
  MAX_INFLATED_BODY_BYTES,
  type ProcessRecord,
  type SkippedProcess,
  SNAPSHOT_SCHEMA_ID,
  type Snapshot,
} from '@fleetpmap/protocol';
import type { CollectedRecord } from './collector.ts';
import { randomUuid } from './uuid.ts';

/**
 * JSON bytes per push. The server caps the inflated body at MAX_INFLATED_BODY_BYTES and the
 * gzip body at MAX_COMPRESSED_BODY_BYTES; snapshot JSON compresses far better than 2:1, so twice
 * the compressed cap keeps both with room to spare.
 */
export const DEFAULT_MAX_BODY_BYTES = Math.min(
  MAX_INFLATED_BODY_BYTES,
  2 * MAX_COMPRESSED_BODY_BYTES,
);

export type { AgentCost } from '@fleetpmap/protocol';

export interface PartsHead {
  takenAtMs: number;
  host: Host;
  version: string;
  maxBodyBytes?: number;
  newId?: () => string;
}

/** What is only known once the cycle is over; it goes with the last part. */
export interface CycleSummary {
  collectMs: number;
  skipped: SkippedProcess[];
  cost: AgentCost;
}

export interface BuildInput extends PartsHead, CycleSummary {
  records: CollectedRecord[];
}

/**
 * Packs one cycle's records into snapshot parts as they are collected, each under the body and
 * count limits, so a cycle that reads many full maps never holds more than one part in memory.
 * Every part has the same `takenAtMs` and its own `snapshotId`. The skip list and the agent's
 * cost are known only at the end and go with the last part, so the server counts them once.
 */
export class SnapshotPacker {
  readonly #head: PartsHead;
  readonly #maxBody: number;
  readonly #newId: () => string;
  readonly #overhead: number;
  #cur: Snapshot;
  #bytes: number;
  #mappings = 0;

  constructor(head: PartsHead) {
    this.#head = head;
    this.#maxBody = head.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.#newId = head.newId ?? randomUuid;
    this.#cur = this.#part();
    this.#overhead = Buffer.byteLength(JSON.stringify(this.#cur)) + 64;
    this.#bytes = this.#overhead;
  }

  #part(): Snapshot {
    return {
      schema: SNAPSHOT_SCHEMA_ID,
      snapshotId: this.#newId(),
      takenAtMs: this.#head.takenAtMs,
      host: this.#head.host,
      agent: { version: this.#head.version },
      processes: [],
    };
  }

  #cut(): Snapshot {
    const done = this.#cur;
    this.#cur = this.#part();
    this.#bytes = this.#overhead;
    this.#mappings = 0;
    return done;
  }

  /** Adds one record; returns the part it closed when the record did not fit beside it. */
  add(r: CollectedRecord): Snapshot | undefined {
    let rec: ProcessRecord = r;
    let size = Buffer.byteLength(JSON.stringify(rec)) + 1;
    if (
      rec.mappings !== undefined &&
      (size + this.#overhead > this.#maxBody || rec.mappings.length > LIMITS.mappingsPerSnapshot)
    ) {
      // One process whose map alone exceeds a push: keep its totals, report the map as too big.
      const { mappings, ...rest } = rec;
      rec = {
        ...rest,
        error: rec.error ?? {
          code: 'ETOOBIG',
          message: `${mappings.length} mappings exceed one push; region totals only`,
        },
      };
      size = Buffer.byteLength(JSON.stringify(rec)) + 1;
    }
    const m = rec.mappings?.length ?? 0;
    let closed: Snapshot | undefined;
    if (
      this.#cur.processes.length > 0 &&
      (this.#bytes + size > this.#maxBody ||
        this.#mappings + m > LIMITS.mappingsPerSnapshot ||
        this.#cur.processes.length >= LIMITS.processesPerSnapshot)
    ) {
      closed = this.#cut();
    }
    this.#cur.processes.push(rec);
    this.#bytes += size;
    this.#mappings += m;
    return closed;
  }

  /** Closes the cycle: the last part(s), carrying the cycle's summary. */
  finish(summary: CycleSummary): Snapshot[] {
    const skipped = summary.skipped.slice(0, LIMITS.skippedPerSnapshot);
    const agent: Snapshot['agent'] = {
      version: this.#head.version,
      collectMs: Math.min(LIMITS.maxCostMs, Math.round(summary.collectMs * 1000) / 1000),
      ...(skipped.length > 0 ? { skipped } : {}),
      cost: summary.cost,
    };
    const out: Snapshot[] = [];
    if (this.#bytes + Buffer.byteLength(JSON.stringify(agent)) > this.#maxBody) {
      out.push(this.#cut());
    }
    this.#cur.agent = agent;
    out.push(this.#cur);
    return out;
  }
}

/** One cycle's records, all at once, as parts (see SnapshotPacker). */
export function buildSnapshots(input: BuildInput): Snapshot[] {
  const packer = new SnapshotPacker(input);
  const parts: Snapshot[] = [];
  for (const r of input.records) {
    const closed = packer.add(r);
    if (closed) parts.push(closed);
  }
  parts.push(...packer.finish(input));
  return parts;
}
