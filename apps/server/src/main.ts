import cluster from 'node:cluster';
import { isClosedSocketWriteFault } from '@fleetpmap/db';
import { Command } from 'commander';
import { pino } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { startServer } from './app.ts';
import { announceListening, clusterMetricsFromWorker, runPrimary } from './cluster.ts';
import { ConfigError, DEFAULT_LISTEN, loadConfig } from './config.ts';
import { SERVER_VERSION } from './version.ts';

/** The `fleetpmap-server` command; the only place in the server that calls `process.exit`. */
async function main(argv: string[]): Promise<number> {
  const program = new Command('fleetpmap-server')
    .description('fleetpmap server: receives agent snapshots, answers CLI queries (tRPC over HTTP)')
    .version(SERVER_VERSION)
    .option(
      '--database <url>',
      'postgres:// URL (env FLEETPMAP_DATABASE_URL); without one, embedded PGlite in the data dir',
    )
    .option(
      '--data-dir <dir>',
      'admin token and PGlite files (env FLEETPMAP_DATA_DIR; default ~/.local/share/fleetpmap)',
    )
    .option(
      '--listen <host:port>',
      `address to listen on (env FLEETPMAP_LISTEN; default ${DEFAULT_LISTEN}; port 0 picks one)`,
    )
    .option(
      '--workers <n>',
      'server processes sharing the port, for several cores (env FLEETPMAP_WORKERS; default 1; Postgres only)',
    )
    .showHelpAfterError();
  program.parse(argv);
  const flags = program.opts<{
    database?: string;
    dataDir?: string;
    listen?: string;
    workers?: string;
  }>();
  const config = loadConfig(flags);
  const log = pino({ level: config.logLevel, base: { service: 'fleetpmap-server' } });
  // A database that goes away must not take the server with it (see isClosedSocketWriteFault);
  // every other uncaught exception still ends the process, as it would without this handler.
  process.on('uncaughtException', (error) => {
    if (isClosedSocketWriteFault(error)) {
      log.warn({ err: error }, 'database connection closed with a write queued; going on');
      return;
    }
    log.fatal({ err: error }, 'uncaught exception');
    process.stderr.write(`${error.stack ?? String(error)}\n`);
    process.exit(1);
  });
  const announce = (info: { url: string; adminTokenPath: string; adminTokenCreated: boolean }) => {
    log.info(
      {
        url: info.url,
        database: config.databaseUrl === undefined ? 'pglite' : 'postgres',
        dataDir: config.dataDir,
        workers: config.workers,
      },
      'listening',
    );
    process.stdout.write(`fleetpmap-server listening on ${info.url}\n`);
    process.stdout.write(
      info.adminTokenCreated
        ? `admin token created and saved to ${info.adminTokenPath} (mode 0600)\n`
        : `admin token: ${info.adminTokenPath}\n`,
    );
  };

  let stop: () => Promise<void>;
  if (config.workers > 1 && cluster.isPrimary) {
    stop = await runPrimary(config, log, announce);
  } else if (cluster.isWorker) {
    // Constructing one installs prom-client's listener that answers the primary's requests. It
    // must answer from the start: the primary asks every connected worker, and one still starting
    // that stayed silent would fail /metrics on all the others until it listened.
    void new AggregatorRegistry();
    const server = await startServer(config, log.child({ worker: process.pid }), {
      clusterMetrics: clusterMetricsFromWorker(),
    });
    AggregatorRegistry.setRegistries([server.metrics.registry]);
    announceListening(server.url);
    stop = () => server.close();
  } else {
    const server = await startServer(config, log);
    announce({
      url: server.url,
      adminTokenPath: server.adminTokenPath,
      adminTokenCreated: server.adminTokenCreated,
    });
    stop = () => server.close();
  }

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await stop();
  log.info('stopped');
  return 0;
}

main(process.argv).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`fleetpmap-server: ${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(
      `fleetpmap-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
