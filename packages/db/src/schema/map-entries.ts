import { bigint, integer, pgTable, primaryKey } from 'drizzle-orm/pg-core';
import { bytea } from './columns.ts';

/**
 * Mapping contents, addressed by a hash of every field, deduplicated per host and UTC day.
 * Keyed by the day so that a day's `full_maps` only point into the same day's partition here,
 * and both are dropped together by retention.
 */
export const mapEntries = pgTable(
  'map_entries',
  {
    hostId: integer('host_id').notNull(),
    /** start of the UTC day (ms) of the full maps that reference this entry */
    dayMs: bigint('day_ms', { mode: 'number' }).notNull(),
    hash: bytea('hash').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.hostId, t.dayMs, t.hash] })],
);
