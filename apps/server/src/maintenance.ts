import type { Logger } from 'pino';
import type { ServerDatabase } from './database.ts';
import type { ReportTickOutcome } from './reports/scheduler.ts';

/**
 * Runs a database job now and then every `intervalMs`. The jobs take Postgres advisory locks,
 * so with several replicas one run happens at a time; a failed run is logged and tried again at
 * the next tick. Never two runs of one job at once in this process.
 */
function every(
  name: string,
  intervalMs: number,
  job: () => Promise<unknown>,
  log: Logger,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = job()
      .then((outcome) => log.debug({ job: name, outcome }, 'job done'))
      .catch((error: unknown) => log.warn({ job: name, err: error }, 'job failed'))
      .finally(() => {
        running = undefined;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/**
 * Partition maintenance with retention, the aggregate rollup, and the report schedule with its
 * webhook deliveries; returns a stop function. `onReports` sees each report tick's outcome, or
 * its error, for the metrics.
 */
export function startMaintenance(
  database: ServerDatabase,
  intervals: { maintenanceMs: number; rollupMs: number; reportsMs: number },
  log: Logger,
  onReports: (outcome: ReportTickOutcome | undefined, error?: unknown) => void = () => {},
): () => Promise<void> {
  const reports = () =>
    database.reports().then(
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
    every('partitions', intervals.maintenanceMs, () => database.maintain(), log),
    every('rollup', intervals.rollupMs, () => database.rollup(), log),
    every('reports', intervals.reportsMs, reports, log),
  ];
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
