export { type RunningServer, startServer } from './app.ts';
export { type ConfigInput, defaultDataDir, loadConfig, type ServerConfig } from './config.ts';
export { reportSchedules } from './database.ts';
export { assertFiresSometime } from './reports/cron.ts';
export {
  CATCH_UP_MS,
  createReportTick,
  DELIVERY_CONCURRENCY,
  DELIVERY_CONCURRENCY_PER_ORIGIN,
  dueSlot,
  type ReportSchedule,
  type ReportTickOutcome,
  type ReportWebhooks,
} from './reports/scheduler.ts';
export { DELIVERY_BACKOFF_MS, postReport, signature } from './reports/webhook.ts';
