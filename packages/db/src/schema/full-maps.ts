import { bigint, integer, pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './columns.ts';

/**
 * One row per full map read (the smaps tier) of one process: the ordered list of its mappings'
 * content hashes (16 bytes each) into `map_entries` of the same host and day. A stable process's
 * repeated map costs 16 bytes per mapping here and nothing in `map_entries`.
 * Partitioned by range of `taken_at_ms`, one partition per UTC day.
 */
export const fullMaps = pgTable(
  'full_maps',
  {
    hostId: integer('host_id').notNull(),
    pid: integer('pid').notNull(),
    startTicks: bigint('start_ticks', { mode: 'number' }).notNull(),
    takenAtMs: bigint('taken_at_ms', { mode: 'number' }).notNull(),
    bootId: uuid('boot_id').notNull(),
    snapshotId: uuid('snapshot_id').notNull(),
    mappingCount: integer('mapping_count').notNull(),
    entryHashes: bytea('entry_hashes').notNull(),
  },
  (t) => [primaryKey({ columns: [t.hostId, t.pid, t.startTicks, t.takenAtMs] })],
);
