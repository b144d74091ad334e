import { Command } from 'commander';
import { pino } from 'pino';
import { startServer } from './app.ts';
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
    .showHelpAfterError();
  program.parse(argv);
  const flags = program.opts<{ database?: string; dataDir?: string; listen?: string }>();
  const config = loadConfig(flags);
  const log = pino({ level: config.logLevel, base: { service: 'fleetpmap-server' } });

  const server = await startServer(config, log);
  log.info(
    {
      url: server.url,
      database: config.databaseUrl === undefined ? 'pglite' : 'postgres',
      dataDir: config.dataDir,
    },
    'listening',
  );
  process.stdout.write(`fleetpmap-server listening on ${server.url}\n`);
  process.stdout.write(
    server.adminTokenCreated
      ? `admin token created and saved to ${server.adminTokenPath} (mode 0600)\n`
      : `admin token: ${server.adminTokenPath}\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
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
