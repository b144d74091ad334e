import type { Logger } from 'pino';
import type { ServerDatabase } from './database.ts';

/**
 * Runs partition maintenance and retention now and then every `intervalMs`. The database side
 * takes an advisory lock, so with several replicas one run happens at a time; a failed run is
 * logged and tried again at the next tick.
 */
export function startMaintenance(
  database: ServerDatabase,
  intervalMs: number,
  log: Logger,
): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = database
      .maintain()
      .then((outcome) => log.info({ maintenance: outcome }, 'maintenance run'))
      .catch((error: unknown) => log.warn({ err: error }, 'maintenance failed'))
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
