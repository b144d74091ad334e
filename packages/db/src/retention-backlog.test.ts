import { sql } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import { queryRows } from './client.ts';
import { DAY_MS, DROP_BATCH, ensurePartitionsFor, maintainPartitions } from './partitions.ts';
import { testDrivers } from './test-db.ts';
import { useTestDb } from './use-test-db.ts';

// Hundreds of partitions are made first: slow DDL on shared CI machines.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);
/** Days of partitions a server kept before its retention was lowered. */
const BACKLOG_DAYS = 550;

describe.each(testDrivers())('a retention backlog on %s', (driver) => {
  const t = useTestDb(driver);

  it('is dropped in one maintenance run after the retention is lowered from 2 years to 14 days', async () => {
    // A day's partitions for each of 550 days: what a 2-year retention had kept, about 2,200
    // partitions. In one transaction their drops overflowed Postgres's shared lock table.
    for (let d = 0; d < BACKLOG_DAYS; d++) await ensurePartitionsFor(t.db, NOW - d * DAY_MS);
    const count = async (table: string) =>
      Number(
        (
          await queryRows<{ n: number }>(
            t.db,
            sql`select count(*)::int as n from pg_inherits i
                join pg_class p on p.oid = i.inhparent where p.relname = ${table}`,
          )
        )[0]?.n,
      );
    expect(await count('sample_blocks')).toBe(BACKLOG_DAYS);

    const retention = { samplesDays: 14, mapsDays: 14, aggregates5mDays: 14 };
    const r = await maintainPartitions(t.db, { nowMs: NOW, retention });
    // Days NOW-14 … NOW stay (the cutoff's own day included), 535 days of 4 tables go.
    const expiredDays = BACKLOG_DAYS - 15;
    expect(r.dropped.filter((n) => n.startsWith('sample_blocks_p'))).toHaveLength(expiredDays);
    expect(r.dropped.length).toBeGreaterThan(4 * expiredDays);
    expect(r.dropped.length).toBeGreaterThan(20 * DROP_BATCH);
    for (const table of ['sample_blocks', 'full_maps', 'map_entries', 'aggregates_5m']) {
      expect(await count(table)).toBe(15 + 2); // and the 2 days ahead it made
    }
    const again = await maintainPartitions(t.db, { nowMs: NOW, retention });
    expect(again.dropped).toEqual([]);
  });
});
