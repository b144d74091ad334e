import { bigint, pgTable, text } from 'drizzle-orm/pg-core';

/** Watermarks of background steps (the rollup: `ingested_at_ms` of blocks already rolled up). */
export const rollupState = pgTable('rollup_state', {
  name: text('name').primaryKey(),
  watermarkMs: bigint('watermark_ms', { mode: 'number' }).notNull(),
});
