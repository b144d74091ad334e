import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { JOBS, type JobName } from './maintenance.ts';

/** Distinct hosts remembered for the hosts-seen gauge; past this the gauge stops growing. */
const MAX_TRACKED_HOSTS = 100_000;

export type ServerMetrics = ReturnType<typeof createMetrics>;

/** One registry per server instance, so tests can run several servers in one process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'fleetpmap_server_' });
  const snapshots = new Counter({
    name: 'fleetpmap_ingest_snapshots_total',
    help: 'Snapshots accepted by snapshot.push, by outcome',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const processSamples = new Counter({
    name: 'fleetpmap_ingest_process_samples_total',
    help: 'Process records stored',
    registers: [registry],
  });
  const mappings = new Counter({
    name: 'fleetpmap_ingest_mappings_total',
    help: 'Mappings received in full maps',
    registers: [registry],
  });
  const mappingsStored = new Counter({
    name: 'fleetpmap_ingest_mappings_stored_total',
    help: 'Mapping contents written; unchanged mappings of a repeated full map are not',
    registers: [registry],
  });
  const bytes = new Counter({
    name: 'fleetpmap_ingest_bytes_total',
    help: 'Bytes of snapshot.push bodies, on the wire and after inflation',
    labelNames: ['stage'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'fleetpmap_rejected_requests_total',
    help: 'Requests answered with an error status, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const hostsSeen = new Gauge({
    name: 'fleetpmap_hosts_seen',
    help: 'Distinct host names that pushed since the server started',
    // Across cluster workers every worker sees the same hosts: the largest count, not the sum.
    aggregator: 'max',
    registers: [registry],
  });
  const pushLatency = new Histogram({
    name: 'fleetpmap_push_duration_seconds',
    help: 'snapshot.push wall time from first byte to answer',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const databaseErrors = new Counter({
    name: 'fleetpmap_database_errors_total',
    help: 'Requests that failed in the database: unavailable (answered 503) or a failed query (500)',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const reportBuilds = new Counter({
    name: 'fleetpmap_report_builds_total',
    help: 'Scheduled fleet leak reports this process built (built), or whose report tick failed (failed)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const reportDeliveries = new Counter({
    name: 'fleetpmap_report_deliveries_total',
    help: 'Webhook deliveries of fleet leak reports by this process, by outcome (a failed one is retried)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const enrollments = new Counter({
    name: 'fleetpmap_enrollments_total',
    help: 'Agent enrollments by outcome: enrolled, or refused (host-taken, host-pattern, enroll-token), or error',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const refusedConnections = new Counter({
    name: 'fleetpmap_refused_connections_total',
    help: 'Connections closed as soon as accepted: over the process cap (max_connections) or over the cap of one remote address, an IPv6 one per /64 (per_address)',
    labelNames: ['cap'] as const,
    registers: [registry],
  });
  const jobRuns = new Counter({
    name: 'fleetpmap_job_runs_total',
    help: 'Runs of the periodic jobs (partitions: creation and retention; rollup; reports) by outcome; a failed run is tried again at the next tick',
    labelNames: ['job', 'outcome'] as const,
    registers: [registry],
  });
  const jobLastSuccess = new Gauge({
    name: 'fleetpmap_job_last_success_timestamp_seconds',
    help: 'When each periodic job last finished without error (0: not yet); alert on its age',
    labelNames: ['job'] as const,
    // Across cluster workers: the latest success of any.
    aggregator: 'max',
    registers: [registry],
  });
  // Every known label value from the start: a series that appears only with the first failure
  // makes `rate()` and `increase()` miss that failure.
  for (const job of JOBS) {
    for (const outcome of ['ok', 'failed']) jobRuns.inc({ job, outcome }, 0);
    jobLastSuccess.set({ job }, 0);
  }
  for (const outcome of ['stored', 'duplicate']) snapshots.inc({ outcome }, 0);
  for (const kind of ['unavailable', 'query']) databaseErrors.inc({ kind }, 0);
  for (const outcome of ['built', 'failed']) reportBuilds.inc({ outcome }, 0);
  for (const outcome of ['delivered', 'failed']) reportDeliveries.inc({ outcome }, 0);
  for (const outcome of ['enrolled', 'host-taken', 'host-pattern', 'enroll-token', 'error']) {
    enrollments.inc({ outcome }, 0);
  }
  for (const cap of ['max_connections', 'per_address']) refusedConnections.inc({ cap }, 0);
  const hosts = new Set<string>();
  return {
    registry,
    snapshots,
    processSamples,
    mappings,
    mappingsStored,
    bytes,
    rejected,
    pushLatency,
    databaseErrors,
    reportBuilds,
    reportDeliveries,
    enrollments,
    refusedConnections,
    jobRan(job: JobName, ok: boolean) {
      jobRuns.inc({ job, outcome: ok ? 'ok' : 'failed' });
      if (ok) jobLastSuccess.set({ job }, Date.now() / 1000);
    },
    sawHost(name: string) {
      if (hosts.has(name) || hosts.size >= MAX_TRACKED_HOSTS) return;
      hosts.add(name);
      hostsSeen.set(hosts.size);
    },
  };
}
