import { randomUUID } from 'node:crypto';
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
