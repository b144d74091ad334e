import { bigint, pgTable, text } from 'drizzle-orm/pg-core';

/**
 * Which server process may send to a webhook receiver now, shared by every replica and worker:
 * one row per receiver URL (one delivery in flight to it) and per origin slot (a few to one host
 * over all its URLs). A row is deleted when its delivery is recorded; one whose process died
 * mid-delivery counts as free once `leasedUntilMs` has passed.
 */
export const webhookReceiverLeases = pgTable('webhook_receiver_leases', {
  /**
   * `url:` or `origin:` and the SHA-256 of that URL or origin (an origin's with `#<slot>` after
   * it): a webhook URL may carry its secret token in its path or query, which is not stored
   */
  key: text('key').primaryKey(),
  /** the process that holds it (`hostname:pid:tag`) and which of its leases this is */
  holder: text('holder').notNull(),
  leasedUntilMs: bigint('leased_until_ms', { mode: 'number' }).notNull(),
});
