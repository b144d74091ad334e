import { describe, expect, it } from 'vitest';
import { fleetpmap } from '../support/cli.ts';
import { fullSnapshot } from './corpus.ts';
import { oneDriver, useTestServer } from './harness.ts';

// `--host GLOB` is a shell glob: sets and braces choose hosts on the server, through the real CLI;
// a malformed one is an error, never a silently empty fleet.
describe('fleetpmap --host GLOB against a real server', () => {
  const t = useTestServer(oneDriver());
  const hostsOf = (stdout: string) =>
    [
      ...new Set(
        stdout
          .split('\n')
          .slice(1)
          .map((l) => l.split(/\s+/)[0])
          .filter(Boolean),
      ),
    ].sort();

  it('chooses hosts by sets, ranges, negated sets and braces', { timeout: 120_000 }, async () => {
    const admin = t.client(t.adminToken);
    for (const name of ['web-001', 'web-002', 'web-003', 'db-001']) {
      await admin.snapshot.push.mutate(fullSnapshot(name));
    }
    const ps = (glob: string) =>
      fleetpmap(['ps', '--host', glob, '--server', t.url, '--token', t.adminToken]);
    const cases: [string, string[]][] = [
      ['web-00[12]', ['web-001', 'web-002']],
      ['web-00[2-9]', ['web-002', 'web-003']],
      ['web-00[!12]', ['web-003']],
      ['web-00{1,3}', ['web-001', 'web-003']],
      ['{web,db}-001', ['db-001', 'web-001']],
      ['*-00[1]', ['db-001', 'web-001']],
    ];
    for (const [glob, hosts] of cases) {
      const r = await ps(glob);
      expect(r.code, r.stderr).toBe(0);
      expect(hostsOf(r.stdout), glob).toEqual(hosts);
    }
    // The same filter through the API's own input validation.
    const listed = await admin.process.list.query({ hostGlob: 'web-00[13]' });
    expect([...new Set(listed.map((r) => r.host))].sort()).toEqual(['web-001', 'web-003']);
  });

  it('refuses a malformed glob with what is wrong, in the CLI and in the API', async () => {
    const r = await fleetpmap([
      'ps',
      '--host',
      'web-00[12',
      '--server',
      t.url,
      '--token',
      t.adminToken,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/not a host glob: "\[" at character 7 is never closed by "\]"/);
    await expect(
      t.client(t.adminToken).process.top.query({ windowMs: 3_600_000, hostGlob: 'web-00{1,2' }),
    ).rejects.toThrow(/invalid input at hostGlob: host glob: "\{" at character 7 is never closed/);
  });

  it('enrolls only the hosts an enroll token glob with a set names', {
    timeout: 60_000,
  }, async () => {
    const created = await fleetpmap([
      'token',
      'create',
      '--role',
      'enroll',
      '--host',
      'edge-0[12]',
      '--server',
      t.url,
      '--token',
      t.adminToken,
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/created enroll token \S+ for hosts edge-0\[12\]/);
    const enroll = t.client(created.stdout.trim());
    await expect(enroll.token.enroll.mutate({ hostName: 'edge-02' })).resolves.toMatchObject({
      role: 'agent',
      hostName: 'edge-02',
    });
    await expect(enroll.token.enroll.mutate({ hostName: 'edge-03' })).rejects.toThrow(
      /host edge-03 does not match this enroll token's hosts \(edge-0\[12\]\)/,
    );
    const bad = await t
      .client(t.adminToken)
      .token.create.mutate({ role: 'enroll', hostPattern: 'edge-[12' })
      .catch((e: Error) => e.message);
    expect(bad).toMatch(
      /invalid input at hostPattern: host glob: "\[" at character 6 is never closed/,
    );
  });
});
