import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener } from 'node:http';
import {
  type AddressInfo,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/fleetpmap.js', import.meta.url));
const execFileAsync = promisify(execFile);

type Result = { code: number; stdout: string; stderr: string; ms: number };

/** The real binary as a child process (asynchronous: the servers below run in this process). */
async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const started = Date.now();
  try {
    const r = await execFileAsync(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - started };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: e.code ?? -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
      ms: Date.now() - started,
    };
  }
}

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Accepts connections and never says a word. */
function silentServer(): Promise<string> {
  return listen(createTcpServer((socket) => sockets.push(socket)));
}

function httpServer(handler: RequestListener): Promise<string> {
  const server = createHttpServer(handler);
  server.on('connection', (socket) => sockets.push(socket));
  return listen(server);
}

describe('a server that accepts the connection and never answers', () => {
  it('ends the command after --timeout with a message saying so', async () => {
    const url = await silentServer();
    const r = await run(['hosts', '--server', url, '--token', 't', '--timeout', '0.5']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `fleetpmap: the server at ${url} did not answer within 0.5 s` +
        ' (--timeout SECONDS or FLEETPMAP_TIMEOUT waits longer)\n',
    );
    expect(r.ms).toBeLessThan(10_000);
  });

  it('takes the timeout from FLEETPMAP_TIMEOUT, for HOST:PID --at too', async () => {
    const url = await silentServer();
    const r = await run(['web-1:812', '--at', 'now', '--server', url], {
      FLEETPMAP_TIMEOUT: '0.5',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `fleetpmap: the server at ${url} did not answer within 0.5 s` +
        ' (--timeout SECONDS or FLEETPMAP_TIMEOUT waits longer)\n',
    );
  });

  it('takes the timeout from the config file', async () => {
    const url = await silentServer();
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-config-'));
    try {
      const config = join(dir, 'config.json');
      await writeFile(config, JSON.stringify({ server: url, token: 't', timeout: 0.5 }));
      const r = await run(['ps', '--config', config]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^fleetpmap: the server at \S+ did not answer within 0\.5 s/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up on an answer whose body never ends as well', async () => {
    const url = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"result":');
    });
    const r = await run(['hosts', '--server', url, '--timeout', '0.5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/did not answer within 0\.5 s/);
  });

  it('refuses a timeout that is not a number of seconds', async () => {
    const r = await run(['hosts', '--server', 'http://127.0.0.1:4680', '--timeout', '1m']);
    expect(r).toMatchObject({
      code: 1,
      stderr: 'fleetpmap: --timeout "1m": expected a number of seconds, such as 60\n',
    });
  });
});

describe('a server that is not the fleetpmap API', () => {
  it('says what answered instead of that the server cannot be reached', async () => {
    const url = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Welcome to nginx!</title>');
    });
    const r = await run(['hosts', '--server', url, '--token', 't']);
    expect(r).toMatchObject({
      code: 1,
      stdout: '',
      stderr: `fleetpmap: the server at ${url} answered HTTP 200 (text/html; charset=utf-8), which is not the fleetpmap API\n`,
    });
  });

  it('tells a JSON answer of another API from the fleetpmap API too', async () => {
    const url = await httpServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"Not Found"}');
    });
    const r = await run(['top', '--server', url, '--token', 't']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `fleetpmap: the server at ${url} answered HTTP 404 (application/json), which is not the fleetpmap API\n`,
    );
  });
});
