import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fleetpmap } from '../support/cli.ts';
import { fullSnapshot } from './corpus.ts';
import { oneDriver, useTestServer } from './harness.ts';

// The real CLI binary against the real server; one database is enough for the CLI's part.
describe('fleetpmap token and hosts against a real server', () => {
  const t = useTestServer(oneDriver());
  let home: string;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'fleetpmap-cli-home-'));
  });
  afterAll(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('creates an agent token that can push, lists hosts, and revokes it', {
    timeout: 120_000,
  }, async () => {
    const admin = ['--server', t.url, '--token', t.adminToken];
    const created = await fleetpmap([
      'token',
      'create',
      '--role',
      'agent',
      '--host',
      'web-07',
      ...admin,
    ]);
    expect(created.code, created.stderr).toBe(0);
    const secret = created.stdout.trim();
    expect(secret).toMatch(/^\S{20,}$/);
    expect(created.stderr).toMatch(/created agent token \S+ for host web-07/);

    await t.client(secret).snapshot.push.mutate(fullSnapshot('web-07'));

    const hosts = await fleetpmap(['hosts', '--server', t.url, '--token', t.adminToken]);
    expect(hosts.code, hosts.stderr).toBe(0);
    expect(hosts.stdout).toMatch(/^HOST\s+LABELS\s+AGENT\s+KERNEL\s+LAST SEEN\s+PROCESSES$/m);
    expect(hosts.stdout).toMatch(
      /^web-07\s+env=prod,role=web\s+0\.1\.0\s+6\.18\.0-1-amd64\s+\d+s ago\s+2$/m,
    );

    const json = await fleetpmap(['hosts', '--json'], {
      env: { FLEETPMAP_SERVER: t.url, FLEETPMAP_TOKEN: t.adminToken },
    });
    expect(JSON.parse(json.stdout)).toEqual(await t.client(t.adminToken).host.list.query());

    const list = JSON.parse((await fleetpmap(['token', 'list', '--json', ...admin])).stdout) as {
      id: string;
      role: string;
      hostName: string | null;
    }[];
    const agent = list.find((x) => x.role === 'agent');
    expect(agent?.hostName).toBe('web-07');
    expect(JSON.stringify(list)).not.toContain(secret);

    const revoked = await fleetpmap(['token', 'revoke', String(agent?.id), ...admin]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`revoked token ${agent?.id} (agent)\n`);
    const refused = await fleetpmap(['hosts', '--server', t.url, '--token', secret]);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe('fleetpmap: server answered 401: unknown or revoked token\n');
  });

  it('refuses to revoke the last live admin token, and revokes one of two', async () => {
    const admin = ['--server', t.url, '--token', t.adminToken];
    const live = () =>
      fleetpmap(['token', 'list', '--json', ...admin]).then((r) =>
        (JSON.parse(r.stdout) as { id: string; role: string; revokedAtMs: number | null }[]).filter(
          (x) => x.role === 'admin' && x.revokedAtMs === null,
        ),
      );
    const [only, ...others] = await live();
    expect(others).toEqual([]);
    const refused = await fleetpmap(['token', 'revoke', String(only?.id), ...admin]);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(
      `fleetpmap: server answered 409: token ${only?.id} is the last live admin token; create another first (fleetpmap token create --role admin), then revoke this one\n`,
    );
    // With a second admin token live, either may go: here the second, revoked with itself.
    const created = await fleetpmap(['token', 'create', '--role', 'admin', ...admin]);
    expect(created.code, created.stderr).toBe(0);
    const second = (await live()).find((x) => x.id !== only?.id);
    const revoked = await fleetpmap([
      'token',
      'revoke',
      String(second?.id),
      '--server',
      t.url,
      '--token',
      created.stdout.trim(),
    ]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await live()).map((x) => x.id)).toEqual([only?.id]);
  });

  it('reads the server and a token file from the config file', async () => {
    const dir = join(home, '.config', 'fleetpmap');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ server: t.url, tokenFile: t.server.adminTokenPath }),
    );
    const r = await fleetpmap(['hosts'], { env: { HOME: home } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^web-07\s/m);
  });

  it('says plainly when the server cannot be reached or no token is given', async () => {
    const down = await fleetpmap(['hosts', '--server', 'http://127.0.0.1:1', '--token', 'x']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^fleetpmap: cannot reach the server at http:\/\/127\.0\.0\.1:1: /);
    const anonymous = await fleetpmap(['hosts', '--server', t.url], {
      env: { HOME: join(home, 'nowhere') },
    });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/401: missing bearer token \(give a token with --token/);
    const noHost = await fleetpmap([
      'token',
      'create',
      '--role',
      'agent',
      '--server',
      t.url,
      '--token',
      t.adminToken,
    ]);
    expect(noHost).toMatchObject({
      code: 1,
      stderr: 'fleetpmap: an agent token is bound to one host: give --host NAME\n',
    });
  });
});
