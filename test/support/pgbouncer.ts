// A throwaway PgBouncer on a free loopback port in front of the test Postgres: its own
// configuration and user list under one temp directory, removed by dispose.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { collectOutput } from './server-process.ts';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

/**
 * Why the PgBouncer tests cannot run here, or null. One that cannot is skipped, saying so; under
 * CI it fails instead.
 */
export function pgbouncerSkipReason(what: string): string | null {
  const missing = existsSync(PGBOUNCER)
    ? null
    : `${PGBOUNCER} is not installed (apt-get install pgbouncer)`;
  if (missing !== null && process.env.CI === 'true') throw new Error(`CI needs: ${missing}`);
  if (missing !== null) console.log(`skipping ${what}: ${missing}`);
  return missing;
}

export interface TestPgBouncer extends AsyncDisposable {
  port: number;
  /** The URL of `database` through this PgBouncer, as the user of the admin URL. */
  url(database: string): string;
  /** what PgBouncer has logged so far */
  log(): string;
}

/**
 * Starts PgBouncer in front of the Postgres of `adminUrl` (every database on it), in
 * `poolMode`, with at most `poolSize` server connections per database and user. Clients are
 * trusted, and PgBouncer logs in to Postgres as they do, without a password: the test Postgres
 * trusts its loopback clients.
 */
export async function startPgBouncer(
  adminUrl: string,
  opts: { poolMode: 'session' | 'transaction'; poolSize: number },
): Promise<TestPgBouncer> {
  const target = new URL(adminUrl);
  const user = decodeURIComponent(target.username) || 'postgres';
  const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-pgbouncer-'));
  // PgBouncer refuses to run as root: as root it is started as nobody, who must read the files
  chmodSync(dir, 0o755);
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 });
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${opts.poolMode}`,
      `default_pool_size = ${opts.poolSize}`,
      'max_client_conn = 200',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'nobody'] : []), ini], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const log = () => output.stdout + output.stderr;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = Date.now();
    while (!log().includes(`listening on 127.0.0.1:${port}`)) {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${log()}`);
      if (Date.now() - started > 15_000) throw new Error(`pgbouncer did not start: ${log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    url: (database) =>
      `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    log,
    [Symbol.asyncDispose]: stop,
  };
}
