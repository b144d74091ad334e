import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cliBin, repoRoot } from '../support/paths.ts';
import { collectOutput } from '../support/server-process.ts';
import { createClient } from './harness.ts';

const run = promisify(execFile);

// `npm start` as a user runs it: server on PGlite plus a real agent on the real /proc.
describe('npm start', () => {
  let child: ChildProcess | undefined;
  let dataDir = '';

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('runs server and agent, shows this host, and stops both on Ctrl-C', {
    timeout: 240_000,
  }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'fleetpmap-start-'));
    child = spawn(process.execPath, [join(repoRoot, 'apps/server/scripts/start.ts')], {
      env: { ...process.env, FLEETPMAP_DATA_DIR: dataDir, FLEETPMAP_LISTEN: '127.0.0.1:0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = collectOutput(child);
    const deadline = Date.now() + 120_000;
    while (
      !output.stdout.includes('Ctrl-C stops') &&
      Date.now() < deadline &&
      child.exitCode === null
    ) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(output.stdout, output.stderr).toContain('Ctrl-C stops');
    const url = /server (http:\/\/\S+)/.exec(output.stdout)?.[1] as string;
    const adminTokenPath = join(dataDir, 'admin-token');
    expect(output.stdout).toContain(`admin token: ${adminTokenPath}`);
    expect((await stat(adminTokenPath)).mode & 0o777).toBe(0o600);

    const admin = createClient(url, (await readFile(adminTokenPath, 'utf8')).trim());
    let hosts: Awaited<ReturnType<typeof admin.host.list.query>> = [];
    while (hosts.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      hosts = await admin.host.list.query();
    }
    expect(hosts).toHaveLength(1);
    expect(hosts[0]?.labels).toEqual({ 'started-by': 'npm-start' });
    expect(hosts[0]?.processCount).toBeGreaterThan(1);

    // The next command the banner suggests, with the real CLI binary.
    const cli = await run(process.execPath, [cliBin, 'hosts'], {
      env: { ...process.env, FLEETPMAP_SERVER: url, FLEETPMAP_TOKEN_FILE: adminTokenPath },
    });
    expect(cli.stdout).toMatch(new RegExp(`^${hosts[0]?.name}\\s+started-by=npm-start\\s`, 'm'));

    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(output.stdout).toMatch(/stopped\n$/);
  });
});
