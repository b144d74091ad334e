import { sql } from 'drizzle-orm';
import { bigint, integer, jsonb, pgTable, text, uuid } from 'drizzle-orm/pg-core';

/**
 * One row per host name. A reference table (small, read by every query), so its identity
 * sequence is fine; sample tables never use a global sequence.
 */
export const hosts = pgTable('hosts', {
  id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
  name: text('name').notNull().unique(),
  labels: jsonb('labels').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
  bootId: uuid('boot_id').notNull(),
  kernel: text('kernel').notNull(),
  memTotalKb: bigint('mem_total_kb', { mode: 'number' }).notNull(),
  pageSizeKb: integer('page_size_kb').notNull(),
  clockTicksPerSec: integer('clock_ticks_per_sec').notNull(),
  agentVersion: text('agent_version').notNull(),
  firstSeenMs: bigint('first_seen_ms', { mode: 'number' }).notNull(),
  /** takenAtMs of the newest snapshot stored for this host */
  lastSeenMs: bigint('last_seen_ms', { mode: 'number' }).notNull(),
  /** processes in the newest snapshot (all its parts when it was split) */
  processCount: integer('process_count').notNull(),
});
