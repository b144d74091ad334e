import { and, eq, inArray, lte, sql, TransactionRollbackError } from 'drizzle-orm';
import type { Db } from './client.ts';
import { webhookReceiverLeases } from './schema/index.ts';

/**
 * Takes, for `holder`, one free key of each group, trying a group's keys in order, until
 * `untilMs`; all of them or none. A key is free when no one holds it or its lease has run out
 * at `nowMs`. Returns the keys taken, or undefined when some group had none free.
 *
 * A group of one key is a lock (one webhook URL: one delivery in flight), a group of n keys a
 * semaphore of n (an origin's slots). Every caller tries its keys in the order given, so callers
 * that want the same keys wait for each other in one order and never deadlock.
 */
export async function takeReceiverLeases(
  db: Db,
  o: {
    groups: readonly (readonly string[])[];
    holder: string;
    nowMs: number;
    untilMs: number;
  },
): Promise<string[] | undefined> {
  try {
    return await db.transaction(async (tx) => {
      const taken: string[] = [];
      for (const group of o.groups) {
        let got: string | undefined;
        for (const key of group) {
          // A conflicting insert waits for a lease another caller is taking right now, then sees
          // it (or, if that caller gave up, takes the key itself): no two holders at once.
          const [row] = await tx
            .insert(webhookReceiverLeases)
            .values({ key, holder: o.holder, leasedUntilMs: o.untilMs })
            .onConflictDoUpdate({
              target: webhookReceiverLeases.key,
              set: { holder: o.holder, leasedUntilMs: o.untilMs },
              setWhere: lte(webhookReceiverLeases.leasedUntilMs, o.nowMs),
            })
            .returning({ key: webhookReceiverLeases.key });
          if (row) {
            got = row.key;
            break;
          }
        }
        if (got === undefined) tx.rollback();
        else taken.push(got);
      }
      return taken;
    });
  } catch (error) {
    if (error instanceof TransactionRollbackError) return undefined;
    throw error;
  }
}

/** Gives back leases `holder` took; a key it no longer holds (its lease ran out) is left alone. */
export async function releaseReceiverLeases(
  db: Db,
  o: { keys: readonly string[]; holder: string },
): Promise<void> {
  if (o.keys.length === 0) return;
  await db
    .delete(webhookReceiverLeases)
    .where(
      and(
        inArray(webhookReceiverLeases.key, [...o.keys]),
        eq(webhookReceiverLeases.holder, o.holder),
      ),
    );
}

/** The receiver leases held at `nowMs`, by key: for tests and for people reading the table. */
export async function liveReceiverLeases(db: Db, nowMs: number): Promise<Map<string, string>> {
  const rows = await db
    .select({ key: webhookReceiverLeases.key, holder: webhookReceiverLeases.holder })
    .from(webhookReceiverLeases)
    .where(sql`${webhookReceiverLeases.leasedUntilMs} > ${nowMs}`);
  return new Map(rows.map((row) => [row.key, row.holder]));
}
