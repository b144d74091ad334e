import { randomUUID } from 'node:crypto';
import {
  agentSchema,
  type Host,
  LIMITS,
  MAX_COMPRESSED_BODY_BYTES,
  MAX_INFLATED_BODY_BYTES,
  type ProcessRecord,
  processRecordSchema,
  type SkippedProcess,
  SNAPSHOT_SCHEMA_ID,
  type Snapshot,
} from '@fleetpmap/protocol';
import type { CollectedRecord, Tier, TierCost } from './collector.ts';

/**
 * JSON bytes per push. The server caps the inflated body at MAX_INFLATED_BODY_BYTES and the
 * gzip body at MAX_COMPRESSED_BODY_BYTES; snapshot JSON compresses far better than 2:1, so twice
 * the compressed cap keeps both with room to spare.
 */
export const DEFAULT_MAX_BODY_BYTES = Math.min(
  MAX_INFLATED_BODY_BYTES,
  2 * MAX_COMPRESSED_BODY_BYTES,
);

/** The agent's own cost and delivery state, reported with each snapshot and in logs. */
export interface AgentCost {
  tiers: Record<Tier, TierCost>;
  /** CPU time the agent process used during the collection, ms. */
  cpuMs: number;
  rssKb: number;
  wireBytes: number;
  acknowledged: number;
  rejected: number;
  spool: { count: number; bytes: number; dropped: number };
}

export interface BuildInput {
  takenAtMs: number;
  host: Host;
  version: string;
  collectMs: number;
  records: CollectedRecord[];
  skipped: SkippedProcess[];
  cost: AgentCost;
  maxBodyBytes?: number;
  newId?: () => string;
}

type FieldSchema = { safeParse(v: unknown): { success: boolean } };
const recordShape = processRecordSchema.shape as unknown as Record<string, FieldSchema | undefined>;
const agentShape = agentSchema.shape as unknown as Record<string, FieldSchema | undefined>;

/**
 * The wire schema is strict: a field it does not define (or defines differently) would make the
 * server refuse the whole snapshot. The collector's extra facts (the tier of each record, the
 * agent's cost) are sent only where the protocol package defines a field of that name that
 * accepts the value, and are logged either way.
 */
const tierAccepted = new Map<string, boolean>();

function fitRecord(r: CollectedRecord): ProcessRecord {
  let ok = tierAccepted.get(r.tier);
  if (ok === undefined) {
    ok = recordShape.tier?.safeParse(r.tier).success === true;
    tierAccepted.set(r.tier, ok);
  }
  if (ok) return r;
  const { tier: _tier, ...rest } = r;
  return rest;
}

function fitAgent(a: Record<string, unknown>): Snapshot['agent'] {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) if (agentShape[k]?.safeParse(v).success) out[k] = v;
  return out as Snapshot['agent'];
}

/**
 * One cycle's snapshot, split into several under the body and count limits when needed. Every
 * part has the same `takenAtMs` and its own `snapshotId`; the skip list and cost go with the
 * first part only, so the server counts them once.
 */
export function buildSnapshots(input: BuildInput): Snapshot[] {
  const maxBody = input.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const newId = input.newId ?? randomUUID;
  const skipped = input.skipped.slice(0, LIMITS.skippedPerSnapshot);
  const agentFull = {
    version: input.version,
    collectMs: Math.min(LIMITS.maxCostMs, Math.round(input.collectMs * 1000) / 1000),
    ...(skipped.length > 0 ? { skipped } : {}),
    cost: input.cost,
  };
  const agentFirst = fitAgent(agentFull);
  const agentRest = fitAgent({ version: input.version, collectMs: agentFull.collectMs });

  const head = (agent: Snapshot['agent']): Snapshot => ({
    schema: SNAPSHOT_SCHEMA_ID,
    snapshotId: newId(),
    takenAtMs: input.takenAtMs,
    host: input.host,
    agent,
    processes: [],
  });
  const overhead = Buffer.byteLength(JSON.stringify(head(agentFirst))) + 64;

  const parts: Snapshot[] = [];
  let cur = head(agentFirst);
  let bytes = overhead;
  let mappings = 0;
  for (const r of input.records) {
    let rec = fitRecord(r);
    let size = Buffer.byteLength(JSON.stringify(rec)) + 1;
    if (
      rec.mappings !== undefined &&
      (size + overhead > maxBody || rec.mappings.length > LIMITS.mappingsPerSnapshot)
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
    const full =
      cur.processes.length > 0 &&
      (bytes + size > maxBody ||
        mappings + m > LIMITS.mappingsPerSnapshot ||
        cur.processes.length >= LIMITS.processesPerSnapshot);
    if (full) {
      parts.push(cur);
      cur = head(agentRest);
      bytes = overhead;
      mappings = 0;
    }
    cur.processes.push(rec);
    bytes += size;
    mappings += m;
  }
  parts.push(cur);
  return parts;
}
