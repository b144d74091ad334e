import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { exampleSnapshot } from '@fleetpmap/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { fleetpmap } from '../support/cli.ts';
import { oneDriver, useTestServer } from './harness.ts';

const LINES = 300;

/** NDJSON of `count` distinct snapshots of host `name`. */
function ndjson(name: string, count: number): string {
  const base = exampleSnapshot();
  const now = Date.now();
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      ...base,
      snapshotId: randomUUID(),
      takenAtMs: now - (count - i) * 60_000,
      host: { ...base.host, name },
    }),
  )
    .join('\n')
    .concat('\n');
}

describe('fleetpmap import with a token that may not push', () => {
  const t = useTestServer(oneDriver(), { agentHost: 'own-1' });
  let reader: string;
  const as = (token: string) => ['--server', t.url, '--token', token];

  beforeAll(async () => {
    reader = (await t.client(t.adminToken).token.create.mutate({ role: 'reader' })).token;
  });

  it('stops at the first refusal of a reader token, with one message', async () => {
    const r = await fleetpmap(['import', '-', ...as(reader)], { input: ndjson('imp-1', LINES) });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'fleetpmap: server answered 403: a reader token may not call this (needs admin or agent)' +
        " (give an admin token, or the host's agent token)\n",
    );
  });

  it("still reports an agent token's lines for another host one by one, and imports its own", async () => {
    const input = ndjson('other-1', 2) + ndjson('own-1', 1);
    const r = await fleetpmap(['import', '-', ...as(t.agentToken)], { input });
    expect(r.code).toBe(1);
    expect(
      r.stderr.match(/^fleetpmap: line [12]: 403: this agent token is bound to host/gm),
    ).toHaveLength(2);
    expect(r.stderr).toMatch(/^fleetpmap: import: 3 lines: 1 imported, 0 already stored, 2 bad$/m);
  });
});

describe('fleetpmap import while the server is busy', () => {
  // A budget of bodies in flight of 64 KiB, of which a slow push holds 63 KiB.
  const t = useTestServer(oneDriver(), {
    env: {
      FLEETPMAP_MAX_INFLATED_BYTES: String(64 * 1024),
      FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT: String(64 * 1024),
      FLEETPMAP_BODY_IDLE_TIMEOUT_MS: '60000',
    },
  });

  it('waits while the server answers 429, as long as a restart or a failover takes, and loses no line', {
    timeout: 120_000,
  }, async () => {
    const declared = 63 * 1024;
    const hold = request(`${t.url}/trpc/snapshot.push`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': String(declared),
        authorization: `Bearer ${t.adminToken}`,
      },
    });
    hold.on('error', () => {});
    hold.write('{');
    // Busy for 20 s: longer than the 6 tries over about 15 s that import used to give a line.
    const release = setTimeout(() => hold.destroy(), 20_000);
    try {
      const started = Date.now();
      const r = await fleetpmap(['import', '-', '--server', t.url, '--token', t.adminToken], {
        input: ndjson('busy-1', 8),
      });
      expect(r.stderr).toMatch(
        /^fleetpmap: import: 8 lines: 8 imported, 0 already stored, 0 bad$/m,
      );
      expect(r.code).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(19_000);
    } finally {
      clearTimeout(release);
      hold.destroy();
    }
  });
});
