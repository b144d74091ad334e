import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './columns.ts';

/**
 * One row per pushed snapshot (part): every process sample of it packed in `data` (see
 * src/codec/sample-block.ts). A block is a keyframe (absolute values) or a delta against one
 * keyframe block of the same host and the same UTC day, so any block decodes from itself plus
 * at most one other row, and dropping a day partition never orphans a delta.
 * Partitioned by range of `taken_at_ms`, one partition per UTC day. The primary key doubles as
 * the idempotency record of `snapshotId`.
 */
export const sampleBlocks = pgTable(
  'sample_blocks',
  {
    hostId: integer('host_id').notNull(),
    takenAtMs: bigint('taken_at_ms', { mode: 'number' }).notNull(),
    snapshotId: uuid('snapshot_id').notNull(),
    bootId: uuid('boot_id').notNull(),
    baseTakenAtMs: bigint('base_taken_at_ms', { mode: 'number' }),
    baseSnapshotId: uuid('base_snapshot_id'),
    /** the database clock at insert; the rollup step's watermark follows it */
    ingestedAtMs: bigint('ingested_at_ms', { mode: 'number' })
      .notNull()
      .default(sql`(extract(epoch from clock_timestamp()) * 1000)::bigint`),
    processCount: integer('process_count').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.hostId, t.takenAtMs, t.snapshotId] }),
    index('sample_blocks_ingested').on(t.ingestedAtMs),
  ],
);
