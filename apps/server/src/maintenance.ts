import type { Logger } from 'pino';
import type { ServerDatabase } from './database.ts';
import type { ReportTickOutcome } from './reports/scheduler.ts';

/** The server's periodic jobs, as named in logs and in `fleetpmap_job_runs_total{job}`. */
export const JOBS = ['partitions', 'rollup', 'reports'] as const;
export type JobName = (typeof JOBS)[number];

/** What the metrics learn of each finished run. */
export type JobObserver = (job: JobName, ok: boolean) => void;

/**
 * Runs a database job now and then every `intervalMs`. The jobs take Postgres advisory locks,
 * so with several replicas one run happens at a time; a failed run is logged and tried again at
 * the next tick. Never two runs of one job at once in this process. The returned stop function
 * ends the timer at once, asks a running job to stop (its signal aborts) and waits for it.
 */
function every(
  name: JobName,
  intervalMs: number,
  job: (signal: AbortSignal) => Promise<unknown>,
  log: Logger,
  observe: JobObserver,
): () => Promise<void> {
  const stopping = new AbortController();
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running || stopping.signal.aborted) return;
    running = job(stopping.signal)
      .then(
        (outcome) => {
          observe(name, true);
          log.debug({ job: name, outcome }, 'job done');
        },
        (error: unknown) => {
          observe(name, false);
          log.warn({ job: name, err: error }, 'job failed');
        },
      )
      .finally(() => {
        running = undefined;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    stopping.abort();
    await running;
  };
}

/**
 * Partition maintenance with retention, the aggregate rollup, and the report schedule with its
 * webhook deliveries; returns a stop function. `onReports` sees each report tick's outcome, or
 * its error, for the metrics; `observe` sees every job's runs.
 */
export function startMaintenance(
  database: ServerDatabase,
  intervals: { maintenanceMs: number; rollupMs: number; reportsMs: number },
  log: Logger,
  onReports: (outcome: ReportTickOutcome | undefined, error?: unknown) => void = () => {},
  observe: JobObserver = () => {},
): () => Promise<void> {
  const reports = (signal: AbortSignal) =>
    database.reports(signal).then(
      (outcome) => {
        onReports(outcome);
        return outcome;
      },
      (error: unknown) => {
        onReports(undefined, error);
        throw error;
      },
    );
  const stops = [
    every('partitions', intervals.maintenanceMs, () => database.maintain(), log, observe),
    every('rollup', intervals.rollupMs, () => database.rollup(), log, observe),
    every('reports', intervals.reportsMs, reports, log, observe),
  ];
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
