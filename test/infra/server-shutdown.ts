/**
 * The server's shutdown (apps/server/src/app.ts, DRAIN_MS, not exported): requests in flight get
 * up to 10 s, then their connections are cut and their handlers get up to 10 s more.
 */
export const SERVER_SHUTDOWN_DRAIN_S = 10 + 10;

/** What a stop timeout must leave beyond that for a partition run or rollup in progress. */
export const SERVER_SHUTDOWN_JOB_MARGIN_S = 15;
