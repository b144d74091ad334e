import { and, asc, desc, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import { type Db, queryRows } from './client.ts';
import { leakVerdicts, verdictRuns } from './schema/index.ts';

/** One stored verdict: a service chain's judgement over one (metric, window). */
export type StoredVerdict = Omit<typeof leakVerdicts.$inferSelect, 'metric' | 'windowMs'>;

export type VerdictRun = typeof verdictRuns.$inferSelect;

/** 25 columns a row: 1,000 rows keep a statement well under Postgres's 65,535 parameters. */
const INSERT_CHUNK = 1000;

/**
 * Replaces the verdicts of one (metric, window) with a new run's, in one transaction: a reader
 * sees the whole previous run or the whole new one, never a mix.
 */
export async function replaceVerdicts(
  db: Db,
  run: Omit<VerdictRun, 'rows'>,
  rows: readonly StoredVerdict[],
): Promise<void> {
  await db.transaction(async (txRaw) => {
    const tx = txRaw as unknown as Db;
    await tx
      .delete(leakVerdicts)
      .where(and(eq(leakVerdicts.metric, run.metric), eq(leakVerdicts.windowMs, run.windowMs)));
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await tx
        .insert(leakVerdicts)
        .values(
          rows
            .slice(i, i + INSERT_CHUNK)
            .map((r) => ({ ...r, metric: run.metric, windowMs: run.windowMs })),
        );
    }
    const stored = { ...run, rows: rows.length };
    await tx
      .insert(verdictRuns)
      .values(stored)
      .onConflictDoUpdate({ target: [verdictRuns.metric, verdictRuns.windowMs], set: stored });
  });
}

/** The runs stored so far, one per (metric, window). */
export async function listVerdictRuns(db: Db): Promise<VerdictRun[]> {
  return db.select().from(verdictRuns).orderBy(asc(verdictRuns.metric), asc(verdictRuns.windowMs));
}

/** Which stored verdicts a read covers: one (metric, window), optionally some hosts or a comm. */
export interface VerdictFilter {
  metric: string;
  windowMs: number;
  /** only these hosts (all when omitted) */
  hostIds?: readonly number[];
  comm?: string;
}

function verdictsWhere(f: VerdictFilter) {
  return and(
    eq(leakVerdicts.metric, f.metric),
    eq(leakVerdicts.windowMs, f.windowMs),
    f.hostIds === undefined ? undefined : inArray(leakVerdicts.hostId, [...f.hostIds]),
    f.comm === undefined ? undefined : eq(leakVerdicts.comm, f.comm),
  );
}

/**
 * Stored verdicts of one (metric, window), ranked as `top` ranks them: the leaking first, then by
 * slope, then by size, then by host and pid (byte order, as the live ranking compares them).
 */
export async function readVerdicts(
  db: Db,
  opts: VerdictFilter & { leakOnly?: boolean; limit?: number },
): Promise<StoredVerdict[]> {
  if (opts.hostIds?.length === 0) return [];
  const where = and(verdictsWhere(opts), opts.leakOnly ? eq(leakVerdicts.leak, true) : undefined);
  const { metric: _m, windowMs: _w, ...columns } = getTableColumns(leakVerdicts);
  const query = db
    .select(columns)
    .from(leakVerdicts)
    .where(where)
    .orderBy(
      desc(leakVerdicts.leak),
      desc(leakVerdicts.slopeKbPerHour),
      desc(leakVerdicts.currentKb),
      sql`${leakVerdicts.host} collate "C"`,
      asc(leakVerdicts.pid),
    );
  return opts.limit === undefined ? query : query.limit(opts.limit);
}

/** What the fleet pivot needs of each stored verdict. */
export type VerdictPoint = Pick<
  StoredVerdict,
  'host' | 'comm' | 'exe' | 'cgroup' | 'leak' | 'slopeKbPerHour' | 'pctPerHour'
>;

/**
 * Every stored verdict of one (metric, window), with only the fields the pivot groups and
 * counts: a fleet's worth of rows is read in a fraction of the time the whole rows take.
 */
export async function readVerdictPoints(db: Db, opts: VerdictFilter): Promise<VerdictPoint[]> {
  if (opts.hostIds?.length === 0) return [];
  return db
    .select({
      host: leakVerdicts.host,
      comm: leakVerdicts.comm,
      exe: leakVerdicts.exe,
      cgroup: leakVerdicts.cgroup,
      leak: leakVerdicts.leak,
      slopeKbPerHour: leakVerdicts.slopeKbPerHour,
      pctPerHour: leakVerdicts.pctPerHour,
    })
    .from(leakVerdicts)
    .where(verdictsWhere(opts));
}

const VERDICT_LOCK = 0x66_6c_76_64; // 'flvd'

/**
 * Runs `job` in a transaction holding the advisory lock of one (metric, window), so that with
 * several server replicas one computes that run while the others skip it (they skip only what
 * another is computing at that moment). Undefined when another holds it.
 */
export async function withVerdictLock<T>(
  db: Db,
  run: { metric: string; windowMs: number },
  job: (tx: Db) => Promise<T>,
): Promise<T | undefined> {
  return db.transaction(async (txRaw) => {
    const tx = txRaw as unknown as Db;
    const [lock] = await queryRows<{ ok: boolean }>(
      tx,
      sql`select pg_try_advisory_xact_lock(${VERDICT_LOCK}, hashtext(${`${run.metric}:${run.windowMs}`})) as ok`,
    );
    return lock?.ok ? job(tx) : undefined;
  });
}
