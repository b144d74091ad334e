import { bigint, index, integer, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core';

/**
 * One row per process incarnation: (host, boot, pid, start ticks). Written when a process first
 * appears and refreshed at each keyframe block, so `lastSeenMs` lags by at most one keyframe
 * interval. Retention: rows not seen within the aggregate retention are deleted.
 */
export const incarnations = pgTable(
  'incarnations',
  {
    hostId: integer('host_id').notNull(),
    bootId: uuid('boot_id').notNull(),
    pid: integer('pid').notNull(),
    startTicks: bigint('start_ticks', { mode: 'number' }).notNull(),
    ppid: integer('ppid').notNull(),
    uid: bigint('uid', { mode: 'number' }).notNull(),
    comm: text('comm').notNull(),
    cmdline: text('cmdline').notNull(),
    exe: text('exe'),
    cgroup: text('cgroup'),
    firstSeenMs: bigint('first_seen_ms', { mode: 'number' }).notNull(),
    lastSeenMs: bigint('last_seen_ms', { mode: 'number' }).notNull(),
    /**
     * When the process started (host boot time + start ticks), ms since the epoch; null when the
     * agent sent no boot time. Kept from the first snapshot that knew it, so later clock steps
     * on the host do not move it.
     */
    startedAtMs: bigint('started_at_ms', { mode: 'number' }),
    /**
     * The process's cgroup memory limit, KiB (`memoryLimitKb`), as of the newest snapshot stored
     * for it at a keyframe or when it first appeared; null when none was known.
     */
    memoryLimitKb: bigint('memory_limit_kb', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ columns: [t.hostId, t.bootId, t.pid, t.startTicks] }),
    index('incarnations_last_seen').on(t.hostId, t.lastSeenMs),
  ],
);
