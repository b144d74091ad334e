import type postgres from 'postgres';

/**
 * postgres.js's record of the BackendKeyData of one pool connection: the `state` of every query
 * handed to that connection (undocumented; see `DriverQuery` in client.ts). One object per
 * connection for its whole life: its `pid` changes when it reconnects.
 */
export type Backend = { pid: number | null; secret: number | null };

/** What `pg_stat_activity` says of a backend (timestamps as JSON text, compared as they are). */
type Activity = {
  pid: number;
  state: string | null;
  since: string | null;
  start: string;
  app: string;
};

/**
 * Tells which pool connections, among those queries have waited on for long, are dead: their
 * network path is gone while new connections to the database work (a failover that moved its
 * address, a firewall that forgot the old flows). It asks, on another connection, what the
 * server knows of their backends.
 *
 * A backend running our query shows `active`, however long the query takes. One that a query has
 * waited on for long but that shows `idle` (or `idle in transaction`), or is not there at all,
 * never got the query or its answer never came back, unless the query just ended and its answer
 * is on its way. So a connection is dead only when two looks, a check apart, find its backend
 * the same and not working: gone both times, or idle since the same moment. An answer on its way
 * arrives in between; a query arriving makes it `active`.
 *
 * A pid shown `active` counts as working, even though after a failover it could be another
 * backend of the new server with the same number (the key's secret, the one thing that would
 * tell them apart, is not shown anywhere): the connection is then left to a later look.
 *
 * Backends of dead connections still on the server are ended from the probe: one left idle in a
 * transaction would hold its locks until the server's TCP keepalive gives up on its client,
 * hours later.
 */
export class DeadConnections {
  /** what the last look found of each backend still waited on (pid included: it may reconnect) */
  #lastLook = new Map<Backend, string>();

  /**
   * Looks at `backends` through `probe`; resolves to those found dead. `tagOf` is the
   * `application_name` its pool gives each of its connections: a backend with the pid but
   * another name, database or user is not ours (a pid reused after a failover, another
   * application's connection), so ours counts as gone and that one is never touched.
   */
  async find(
    probe: postgres.Sql,
    backends: readonly Backend[],
    tagOf: (backend: Backend) => string,
  ): Promise<Set<Backend>> {
    const pids = backends.flatMap((b) => (typeof b.pid === 'number' ? [b.pid] : []));
    const query = probe`
      select pg_backend_pid() as self, coalesce((
        select json_agg(json_build_object('pid', pid, 'state', state, 'since', state_change,
                                          'start', backend_start, 'app', application_name))
        from pg_stat_activity
        where pid = any(${`{${pids.join(',')}}`}::int[])
          and datname = current_database() and usename = current_user
      ), '[]') as seen`;
    const [row] = (await query) as unknown as [{ self: number; seen: Activity[] }];
    // Behind a connection pooler (PgBouncer, RDS Proxy, ...) the pids the driver is given are not
    // the server's, and nothing can be told from them.
    const probeBackend = (query as unknown as { state: Backend | null }).state;
    if (!row || row.self !== probeBackend?.pid) {
      this.#lastLook.clear();
      return new Set();
    }
    const seen = new Map(row.seen.map((a) => [a.pid, a]));
    const look = new Map<Backend, string>();
    const dead = new Set<Backend>();
    const stale: Activity[] = [];
    for (const backend of backends) {
      if (typeof backend.pid !== 'number') continue;
      const shown = seen.get(backend.pid);
      const activity = shown?.app === tagOf(backend) ? shown : undefined;
      // `active` or `fastpath function call` is working; a state not shown (null: another role's
      // backend; `disabled`: track_activities off) cannot be judged
      if (activity && !activity.state?.startsWith('idle')) continue;
      const found = activity
        ? `${backend.pid} ${activity.start} ${activity.state} ${activity.since}`
        : `${backend.pid} gone`;
      if (this.#lastLook.get(backend) === found) {
        dead.add(backend);
        if (activity) stale.push(activity);
      } else look.set(backend, found);
    }
    this.#lastLook = look;
    if (stale.length > 0) {
      // only if still exactly as seen: the same backend, idle since the same moment; not waited
      // for, so that the answer about the connections does not depend on it
      void probe`
        select pg_terminate_backend(a.pid) from pg_stat_activity a
        join json_to_recordset(${JSON.stringify(stale)}::text::json)
          as s(pid int, state text, since timestamptz, start timestamptz, app text)
          on a.pid = s.pid and a.backend_start = s.start and a.state = s.state
          and a.state_change = s.since and a.application_name = s.app
        where a.datname = current_database() and a.usename = current_user`.catch(() => {}); // not allowed, or gone already
    }
    return dead;
  }
}
