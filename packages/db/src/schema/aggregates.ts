import { bigint, integer, pgTable, primaryKey } from 'drizzle-orm/pg-core';
import { bytea } from './columns.ts';

/**
 * Per-process aggregates of the ranked metrics, packed one row per host per bucket (see
 * src/codec/aggregate-block.ts): for each process incarnation seen in the bucket and each metric,
 * count, min (floor), max, last, and the regression sums. Written by the rollup step.
 * `aggregates_5m` is partitioned per UTC day, `aggregates_1h` per UTC month.
 */
export const aggregates5m = pgTable(
  'aggregates_5m',
  {
    hostId: integer('host_id').notNull(),
    bucketMs: bigint('bucket_ms', { mode: 'number' }).notNull(),
    processCount: integer('process_count').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.hostId, t.bucketMs] })],
);

export const aggregates1h = pgTable(
  'aggregates_1h',
  {
    hostId: integer('host_id').notNull(),
    bucketMs: bigint('bucket_ms', { mode: 'number' }).notNull(),
    processCount: integer('process_count').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.hostId, t.bucketMs] })],
);
