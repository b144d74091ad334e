import type { Logger } from 'pino';
import type { ServerDatabase } from './database.ts';

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
 * webhook deliveries; returns a stop function.
 */
export function startMaintenance(
  database: ServerDatabase,
  intervals: { maintenanceMs: number; rollupMs: number; reportsMs: number },
  log: Logger,
): () => Promise<void> {
  const stops = [
    every('partitions', intervals.maintenanceMs, () => database.maintain(), log),
    every('rollup', intervals.rollupMs, () => database.rollup(), log),
    every('reports', intervals.reportsMs, () => database.reports(), log),
  ];
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
