import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const serverBin = new URL('../bin/fleetpmap-server.js', import.meta.url).pathname;

/**
 * The real `fleetpmap-server` as a child process on `databaseUrl`, listening on a free loopback
 * port, for the benchmarks; resolves with its URL and admin token once it listens.
 * `nodeArgs` go to node (e.g. `--cpu-prof`), `args` to the server, `env` over this environment.
 */
export async function startBenchServer(
  databaseUrl: string,
  dataDir: string,
  opts: { nodeArgs?: string[]; args?: string[]; env?: NodeJS.ProcessEnv } = {},
) {
  const child = spawn(
    process.execPath,
    [
      ...(opts.nodeArgs ?? []),
      serverBin,
      '--database',
      databaseUrl,
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      ...(opts.args ?? []),
    ],
    {
      env: { ...process.env, FLEETPMAP_LOG_LEVEL: 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  const adminToken = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  return { child, url, adminToken };
}
