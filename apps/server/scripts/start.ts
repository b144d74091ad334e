/**
 * `npm start`: the whole pipeline on one machine with nothing installed. Starts the server on
 * embedded PGlite (or FLEETPMAP_DATABASE_URL) and one agent for this host with an agent token of
 * its own, prints where everything is and what to try next. Ctrl-C stops both.
 *
 * Environment: FLEETPMAP_DATA_DIR (default ~/.local/share/fleetpmap), FLEETPMAP_LISTEN
 * (default 127.0.0.1:4680), FLEETPMAP_LOG_LEVEL (default warn), FLEETPMAP_DATABASE_URL.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig, startServer } from '../src/index.ts';

const agentBin = new URL('../../agent/bin/fleetpmap-agent.js', import.meta.url).pathname;

/** The host name as the protocol accepts it (letters, digits, dot, dash, underscore). */
function fleetHostName(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '');
  return name.slice(0, 253) || 'localhost';
}

async function main(): Promise<number> {
  const config = loadConfig({}, { FLEETPMAP_LOG_LEVEL: 'warn', ...process.env });
  const log = pino({ level: config.logLevel }, pino.destination(2));
  const server = await startServer(config, log);
  const hostName = fleetHostName();

  // One agent token per data directory, reused while it is valid.
  const agentTokenPath = join(config.dataDir, 'agent-token');
  let agentToken = await readFile(agentTokenPath, 'utf8').then(
    (t) => t.trim(),
    () => '',
  );
  const known = agentToken === '' ? null : await server.database.services.authenticate(agentToken);
  if (known?.role !== 'agent' || known.hostName !== hostName) {
    const created = await server.database.services.createToken({
      role: 'agent',
      hostName,
      label: 'npm start',
    });
    agentToken = created.token;
    await writeFile(agentTokenPath, `${agentToken}\n`, { mode: 0o600 });
  }

  const agent = spawn(
    process.execPath,
    [
      agentBin,
      '--server',
      server.url,
      '--token-file',
      agentTokenPath,
      '--host-name',
      hostName,
      '--label',
      'started-by=npm-start',
      '--spool-dir',
      join(config.dataDir, 'spool'),
      '--log-level',
      config.logLevel,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  let stopping = false;
  let agentRunning = true;
  agent.once('exit', (code, signal) => {
    agentRunning = false;
    if (!stopping) log.error({ code, signal }, 'the agent stopped; the server keeps running');
  });

  const adminToken = server.adminTokenPath;
  process.stdout.write(
    [
      '',
      `fleetpmap is running: server ${server.url} (${config.databaseUrl ? 'Postgres' : `PGlite in ${config.dataDir}`})`,
      `  agent for host "${hostName}" pushes every 30 s`,
      `  admin token: ${adminToken}${server.adminTokenCreated ? ' (created now, mode 0600)' : ''}`,
      '',
      'next, in another terminal:',
      `  export FLEETPMAP_SERVER=${server.url} FLEETPMAP_TOKEN_FILE=${adminToken}`,
      '  npx fleetpmap hosts                      # the host appears after the first push',
      '  npx fleetpmap token list',
      '  npx fleetpmap token create --role reader',
      '  npx fleetpmap report run --window 30m      # a fleet leak report now (daily at 06:00 UTC)',
      `  npx fleetpmap ${process.pid} -x                  # a memory map, exactly like pmap`,
      `  curl -s ${server.url}/metrics | grep ^fleetpmap_`,
      '',
      'Ctrl-C stops the agent and the server.',
      '',
    ].join('\n'),
  );

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  stopping = true;
  if (agentRunning) {
    agent.kill('SIGTERM');
    const killer = setTimeout(() => agent.kill('SIGKILL'), 10_000);
    await once(agent, 'exit');
    clearTimeout(killer);
  }
  await server.close();
  process.stdout.write('stopped\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`npm start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
