import cluster from 'node:cluster';
import { join } from 'node:path';
import { createDb, isClosedSocketWriteFault, migrate } from '@fleetpmap/db';
import {
  SERVER_ENVIRONMENT,
  unknownVariableMessage,
  unknownVariables,
} from '@fleetpmap/protocol/environment';
import { Command } from 'commander';
import { pino } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { ADMIN_TOKEN_FILE, createAdminToken } from './admin-token.ts';
import { startServer } from './app.ts';
import {
  announceListening,
  clusterMetricsFromWorker,
  type ListeningInfo,
  runPrimary,
} from './cluster.ts';
import { ConfigError, DEFAULT_LISTEN, loadConfig, type ServerConfig } from './config.ts';
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
  let adminTokenLabel: string | undefined;
  program.action(() => {});
  program
    .command('admin-token')
    .description(
      'print a new admin token on stdout (Postgres only: with embedded PGlite it is in the data dir)',
    )
    .option('--label <text>', 'a note to recognise the token by', 'made with fleetpmap-server')
    .action((opts: { label: string }) => {
      adminTokenLabel = opts.label;
    });
  program.parse(argv);
  const flags = program.opts<{
    database?: string;
    dataDir?: string;
    listen?: string;
    workers?: string;
  }>();
  const config = loadConfig(flags);
  if (adminTokenLabel !== undefined) {
    process.stdout.write(`${await newAdminToken(config, adminTokenLabel)}\n`);
    return 0;
  }
  const log = pino({ level: config.logLevel, base: { service: 'fleetpmap-server' } });
  if (!cluster.isWorker) {
    // A misspelt setting would otherwise be ignored in silence (the workers share this one's).
    for (const unknown of unknownVariables(process.env, SERVER_ENVIRONMENT)) {
      log.warn(
        { variable: unknown.name, closest: unknown.closest },
        unknownVariableMessage(unknown, 'the server’s settings are listed in docs/server.md'),
      );
    }
  }
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
  const announce = (info: ListeningInfo) => {
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
        : info.adminTokenElsewhere
          ? 'admin token: the database has admin tokens already; make another with `fleetpmap-server admin-token`\n'
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
      adminTokenElsewhere: server.adminTokenElsewhere,
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

/**
 * The way to an admin token when the data directory's is gone or was never there (a replica, a
 * container): anyone who can reach the database with the server's credentials may make one.
 */
async function newAdminToken(config: ServerConfig, label: string): Promise<string> {
  if (config.databaseUrl === undefined) {
    // PGlite allows one process: opening the running server's files from here could harm them.
    throw new ConfigError(
      `with embedded PGlite the admin token is in ${join(config.dataDir, ADMIN_TOKEN_FILE)}; ` +
        'admin-token needs a Postgres database (--database or FLEETPMAP_DATABASE_URL)',
    );
  }
  const handle = await createDb(config.databaseUrl, { maxConnections: 2 });
  try {
    await migrate(handle);
    return await createAdminToken(handle.db, label);
  } finally {
    await handle.close();
  }
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
