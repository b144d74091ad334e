import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppRouter } from '@fleetpmap/api';
import { createScratchDb, type ScratchDb } from '@fleetpmap/db';
import { loadConfig, type RunningServer, startServer } from '@fleetpmap/server';
import { createTRPCClient, httpLink } from '@trpc/client';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startServerProcess } from '../support/server-process.ts';

export type Driver = { name: 'pglite' } | { name: 'postgres'; adminUrl: string };

/**
 * PGlite always; real Postgres when FLEETPMAP_TEST_DATABASE_URL points at one. In CI that
 * variable must be set: a suite that silently ran on PGlite only would hide driver bugs.
 */
export function drivers(): Driver[] {
  const url = testDatabaseUrl('server tests run on PGlite only');
  return url ? [{ name: 'pglite' }, { name: 'postgres', adminUrl: url }] : [{ name: 'pglite' }];
}

/** One database, for suites where the driver does not matter: real Postgres when there is one. */
export function oneDriver(): Driver {
  return drivers().at(-1) ?? { name: 'pglite' };
}

/** The test Postgres for suites that need one; without it they skip `what`, saying so. */
export function postgresAdminUrl(what: string): string | undefined {
  return testDatabaseUrl(`skipping ${what}`);
}

function testDatabaseUrl(without: string): string | undefined {
  const url = process.env.FLEETPMAP_TEST_DATABASE_URL;
  if (!url) {
    if (process.env.CI) throw new Error('CI must set FLEETPMAP_TEST_DATABASE_URL');
    console.warn(`FLEETPMAP_TEST_DATABASE_URL is not set: ${without}`);
  }
  return url;
}

/** A fresh database on the test Postgres; dropped (connections and all) on dispose. */
export function createPostgresDatabase(adminUrl: string): Promise<ScratchDb> {
  return createScratchDb(adminUrl, { prefix: 'fleetpmap_test' });
}

export type TestServer = {
  server: RunningServer;
  url: string;
  adminToken: string;
  dataDir: string;
  client(token: string | undefined): ReturnType<typeof createTRPCClient<AppRouter>>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** What a test server stores into: a driver, or a database that already exists. */
export type ServerDatabase = Driver | { name: 'postgres-url'; url: string };

/**
 * Test fixtures are snapshots of fixed dates, and the server refuses days older than its samples
 * retention: test servers keep samples for a century, so the tests mean the same next year.
 */
const FIXTURE_RETENTION = { FLEETPMAP_RETENTION_SAMPLES_DAYS: '36500' } as const;

/** The real server on port 0 with a temporary data directory. */
export async function startTestServer(
  driver: ServerDatabase,
  env: NodeJS.ProcessEnv = {},
): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-server-test-'));
  const database =
    driver.name === 'postgres' ? await createPostgresDatabase(driver.adminUrl) : undefined;
  const databaseUrl = driver.name === 'postgres-url' ? driver.url : database?.url;
  try {
    const config = loadConfig(
      { dataDir, listen: '127.0.0.1:0', ...(databaseUrl ? { database: databaseUrl } : {}) },
      {
        FLEETPMAP_LOG_LEVEL: process.env.FLEETPMAP_TEST_LOG_LEVEL ?? 'silent',
        // A test server started within an hour after 06:00 UTC would otherwise make the day's
        // report at start; the report tests turn the schedule on themselves.
        FLEETPMAP_REPORT_SCHEDULE: 'off',
        ...FIXTURE_RETENTION,
        ...env,
      },
    );
    const server = await startServer(config, pino({ level: config.logLevel }));
    const adminToken = (await readFile(server.adminTokenPath, 'utf8')).trim();
    return {
      server,
      url: server.url,
      adminToken,
      dataDir,
      client: (token) => createClient(server.url, token),
      async [Symbol.asyncDispose]() {
        await server.close();
        await database?.[Symbol.asyncDispose]();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await database?.[Symbol.asyncDispose]();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** The test server of one describe block, and the agent token it was asked for. */
export type SuiteServer = Omit<TestServer, typeof Symbol.asyncDispose> & { agentToken: string };

/**
 * A test server for the tests of the calling describe block: started in beforeAll (after the
 * block's earlier beforeAll hooks, so `database` may be a function of what they made), with an
 * agent token for `agentHost` if one is named, and disposed in afterAll.
 */
export function useTestServer(
  database: ServerDatabase | (() => ServerDatabase),
  opts: { env?: NodeJS.ProcessEnv; agentHost?: string } = {},
): SuiteServer {
  let started: TestServer | undefined;
  let agentToken = '';
  beforeAll(async () => {
    started = await startTestServer(
      typeof database === 'function' ? database() : database,
      opts.env,
    );
    if (opts.agentHost !== undefined) {
      const admin = started.client(started.adminToken);
      agentToken = (await admin.token.create.mutate({ role: 'agent', hostName: opts.agentHost }))
        .token;
    }
  });
  afterAll(async () => {
    await started?.[Symbol.asyncDispose]();
  });
  const current = () => {
    if (!started) throw new Error('the test server starts in beforeAll');
    return started;
  };
  return {
    get server() {
      return current().server;
    },
    get url() {
      return current().url;
    },
    get adminToken() {
      return current().adminToken;
    },
    get dataDir() {
      return current().dataDir;
    },
    get agentToken() {
      if (opts.agentHost === undefined) throw new Error('no agent token was asked for');
      return agentToken;
    },
    client: (token) => current().client(token),
  };
}

export function createClient(url: string, token: string | undefined) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${url}/trpc`,
        headers: () => (token === undefined ? {} : { authorization: `Bearer ${token}` }),
      }),
    ],
  });
}

export type RawResponse = {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  json: unknown;
};

/** One HTTP request with exactly these bytes and headers (no client library rewriting them). */
export function rawRequest(
  url: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(opts.path, url);
    const req = request(
      target,
      { method: opts.method ?? 'POST', headers: opts.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    // The server answers some refusals before reading the whole body, then closes.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    req.end(opts.body);
  });
}

/** The error message and data of a tRPC error answer. */
export function errorOf(r: RawResponse): { message: string; data: Record<string, unknown> } {
  const error = (r.json as { error?: { message?: unknown; data?: unknown } } | undefined)?.error;
  return {
    message: typeof error?.message === 'string' ? error.message : '',
    data: (error?.data ?? {}) as Record<string, unknown>,
  };
}

/** A `fleetpmap-server` process of `useServerProcesses`, with a client holding its admin token. */
export type ServerProcess = Awaited<ReturnType<typeof startServerProcess>> & {
  admin: ReturnType<typeof createClient>;
};

/**
 * `fleetpmap-server` processes for the tests of the calling describe block, all on one fresh
 * database of the test Postgres at `adminUrl` and one data directory, made in beforeAll. In
 * afterAll every process still running is killed, then the database and directory go.
 */
export function useServerProcesses(adminUrl: string | undefined): {
  start(extraArgs?: string[], env?: NodeJS.ProcessEnv): Promise<ServerProcess>;
} {
  const cleanups: (() => PromiseLike<void>)[] = [];
  let args: string[] = [];
  let dataDir = '';
  beforeAll(async () => {
    if (!adminUrl) throw new Error('server processes need the test Postgres');
    const database = await createPostgresDatabase(adminUrl);
    cleanups.push(() => database[Symbol.asyncDispose]());
    dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-server-test-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    args = ['--database', database.url, '--data-dir', dataDir];
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  return {
    async start(extraArgs = [], env = {}) {
      const started = await startServerProcess(
        ['--listen', '127.0.0.1:0', ...args, ...extraArgs],
        env,
      );
      const { child } = started;
      cleanups.push(async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGKILL');
        await once(child, 'exit');
      });
      const adminToken = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
      return { ...started, admin: createClient(started.url, adminToken) };
    },
  };
}
