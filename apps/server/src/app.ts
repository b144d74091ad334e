import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, type ApiServices, createRateLimiter } from '@fleetpmap/api';
import type { Logger } from 'pino';
import { ensureAdminToken } from './admin-token.ts';
import { createBodyBudget } from './body.ts';
import type { ServerConfig } from './config.ts';
import { capConnections } from './connections.ts';
import { openDatabase, type ServerDatabase } from './database.ts';
import { createRequestListener } from './http-server.ts';
import { startMaintenance } from './maintenance.ts';
import { createMetrics, type ServerMetrics } from './metrics.ts';
import { SERVER_VERSION } from './version.ts';

export type RunningServer = {
  url: string;
  adminTokenPath: string;
  adminTokenCreated: boolean;
  /** no admin token in the data directory: the database had live ones already */
  adminTokenElsewhere: boolean;
  metrics: ServerMetrics;
  database: ServerDatabase;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** How long a shutdown waits for requests in flight before cutting connections. */
const DRAIN_MS = 10_000;

/**
 * Opens the database (migrations first), makes sure an admin token exists, then serves HTTP.
 * Used by the command, the tests and the benchmark alike.
 */
export async function startServer(
  config: ServerConfig,
  log: Logger,
  opts: { clusterMetrics?: () => Promise<string> } = {},
): Promise<RunningServer> {
  const database = await openDatabase(config, log);
  let server: Server | undefined;
  let stopMaintenance: (() => Promise<void>) | undefined;
  let closing: Promise<void> | undefined;
  try {
    const admin = await ensureAdminToken(config.dataDir, database.handle);
    const metrics = createMetrics();
    const listener = createRequestListener({
      deps: {
        services: countingEnrollments(database.services, metrics),
        log,
        version: SERVER_VERSION,
        rateLimiter: createRateLimiter({
          perSecond: config.rateLimitPerSec,
          burst: config.rateLimitBurst,
        }),
        hooks: {
          onIngest(event) {
            metrics.sawHost(event.hostName);
            metrics.snapshots.inc({ outcome: event.duplicate ? 'duplicate' : 'stored' });
            if (!event.duplicate) {
              metrics.processSamples.inc(event.processCount);
              metrics.mappings.inc(event.mappingCount);
              metrics.mappingsStored.inc(event.mappingsStored ?? 0);
            }
          },
        },
      },
      metrics,
      limits: {
        maxBodyBytes: config.maxBodyBytes,
        maxInflatedBytes: config.maxInflatedBytes,
        idleTimeoutMs: config.bodyIdleTimeoutMs,
      },
      bodyBudget: createBodyBudget(config.maxBodyBytesInFlight),
      log,
      // A server shutting down is not ready, whatever its database says: balancers move on.
      readiness: () =>
        closing === undefined
          ? database.readiness()
          : Promise.resolve({ ready: false, detail: 'shutting down' }),
      ...(opts.clusterMetrics ? { metricsText: opts.clusterMetrics } : {}),
    });
    server = createServer(
      {
        requestTimeout: config.requestTimeoutMs,
        // A client sends its headers in one packet or two: 10 s is ample, and frees the
        // connections of a client that never finishes them.
        headersTimeout: 10_000,
        // How often the two timeouts above are checked (Node's default, 30 s, lets them overrun
        // by that much).
        connectionsCheckingInterval: 2_000,
      },
      listener,
    );
    capConnections(
      server,
      { max: config.maxConnections, perAddress: config.maxConnectionsPerAddress },
      (cap) => metrics.refusedConnections.inc({ cap }),
    );
    server.listen(config.listen.port, config.listen.host);
    await once(server, 'listening');
    stopMaintenance = startMaintenance(
      database,
      {
        maintenanceMs: config.maintenanceIntervalMs,
        rollupMs: config.rollupIntervalMs,
        reportsMs: config.report.tickMs,
      },
      log,
      (outcome) => {
        if (!outcome) {
          metrics.reportBuilds.inc({ outcome: 'failed' });
          return;
        }
        metrics.reportBuilds.inc({ outcome: 'built' }, outcome.built.length);
        metrics.reportDeliveries.inc({ outcome: 'delivered' }, outcome.delivered.length);
        metrics.reportDeliveries.inc({ outcome: 'failed' }, outcome.failedDeliveries.length);
      },
      (job, ok) => metrics.jobRan(job, ok),
    );
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    const httpServer = server;
    const stopJobs = stopMaintenance;
    // Both at once: the port closes and the jobs are told to stop in the same moment. Waiting
    // for a job first kept the server answering for as long as a webhook receiver hung.
    const close = () => {
      listener.closeAfterAnswers();
      closing ??= Promise.all([stopJobs(), closeHttp(httpServer)])
        // A handler whose socket the drain cut may still be at work: the database waits for it.
        .then(() => listener.settled(DRAIN_MS))
        .then(() => database.close());
      return closing;
    };
    return {
      url,
      adminTokenPath: admin.path,
      adminTokenCreated: admin.created,
      adminTokenElsewhere: admin.elsewhere,
      metrics,
      database,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await stopMaintenance?.();
    if (server?.listening) await closeHttp(server);
    await database.close();
    throw error;
  }
}

/** Stops accepting, lets requests in flight finish (up to DRAIN_MS), then cuts what is left. */
async function closeHttp(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A connection busy at the close becomes idle once its answer is sent (the answers to requests
  // begun since say `Connection: close`); close each as soon as it is.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const timer = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
  await closed;
  clearInterval(sweep);
  clearTimeout(timer);
}

/** How a refused enrollment reads on /metrics, by the error it was answered with. */
const ENROLLMENT_OUTCOMES: Partial<Record<string, string>> = {
  CONFLICT: 'host-taken',
  FORBIDDEN: 'host-pattern',
  UNAUTHENTICATED: 'enroll-token',
};

/** The services with every enrollment counted by outcome. */
function countingEnrollments(services: ApiServices, metrics: ServerMetrics): ApiServices {
  return {
    ...services,
    async enrollAgent(enrollTokenId, hostName) {
      try {
        const created = await services.enrollAgent(enrollTokenId, hostName);
        metrics.enrollments.inc({ outcome: 'enrolled' });
        return created;
      } catch (err) {
        const code = err instanceof ApiError ? err.code : undefined;
        metrics.enrollments.inc({ outcome: (code && ENROLLMENT_OUTCOMES[code]) ?? 'error' });
        throw err;
      }
    },
  };
}
