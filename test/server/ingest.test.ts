import { gzipSync } from 'node:zlib';
import { queryRows } from '@fleetpmap/db';
import { describe, expect, it } from 'vitest';
import { fullSnapshot } from './corpus.ts';
import { drivers, errorOf, rawRequest, useTestServer } from './harness.ts';

describe.each(drivers())('snapshot.push on $name', (driver) => {
  const t = useTestServer(driver, { agentHost: 'web-07' });

  it('stores a snapshotId once: a re-send answers duplicate and stores nothing', async () => {
    const agent = t.client(t.agentToken);
    const snapshot = fullSnapshot();
    const first = await agent.snapshot.push.mutate(snapshot);
    expect(first).toMatchObject({
      snapshotId: snapshot.snapshotId,
      accepted: true,
      duplicate: false,
      processCount: 2,
      mappingCount: 1,
    });
    const again = await agent.snapshot.push.mutate(snapshot);
    expect(again).toMatchObject({
      accepted: true,
      duplicate: true,
      processCount: 0,
      mappingCount: 0,
    });
    expect(await t.server.database.storedSnapshotCount()).toBe(1);
    const [host] = await t.client(t.adminToken).host.list.query();
    expect(host).toMatchObject({
      name: 'web-07',
      processCount: 2,
      agentVersion: '0.1.0',
      labels: { env: 'prod', role: 'web' },
    });
  });

  it('stores concurrent re-sends of one snapshot exactly once', async () => {
    const agent = t.client(t.agentToken);
    const snapshot = fullSnapshot();
    const before = await t.server.database.storedSnapshotCount();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => agent.snapshot.push.mutate(snapshot)),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await t.server.database.storedSnapshotCount()).toBe(before + 1);
  });

  it('takes the contract request exactly: plain JSON POST, gzip body, result envelope', async () => {
    const snapshot = fullSnapshot();
    const r = await rawRequest(t.url, {
      path: '/trpc/snapshot.push',
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        authorization: `Bearer ${t.agentToken}`,
      },
      body: gzipSync(JSON.stringify(snapshot)),
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      result: { data: { snapshotId: snapshot.snapshotId, accepted: true, duplicate: false } },
    });
  });

  it('reports ingest, rejections and readiness', async () => {
    await rawRequest(t.url, {
      path: '/trpc/snapshot.push',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const ready = await rawRequest(t.url, { method: 'GET', path: '/readyz' });
    expect(ready.status).toBe(200);
    const metrics = (await rawRequest(t.url, { method: 'GET', path: '/metrics' })).text;
    expect(metrics).toMatch(/^fleetpmap_ingest_snapshots_total\{outcome="stored"\} 3$/m);
    expect(metrics).toMatch(/^fleetpmap_ingest_snapshots_total\{outcome="duplicate"\} 6$/m);
    expect(metrics).toMatch(/^fleetpmap_ingest_process_samples_total 6$/m);
    expect(metrics).toMatch(/^fleetpmap_rejected_requests_total\{reason="unauthenticated"\} 1$/m);
    expect(metrics).toMatch(/^fleetpmap_hosts_seen 1$/m);
    expect(metrics).toMatch(/^fleetpmap_push_duration_seconds_count \d+$/m);
    expect(metrics).toMatch(/^fleetpmap_ingest_bytes_total\{stage="wire"\} \d+$/m);
    // the periodic jobs: partition maintenance runs at start; failures are there at 0 from the
    // start, so that an alert on their increase sees the first one
    let jobs = metrics;
    for (let i = 0; i < 200 && !/job="partitions",outcome="ok"\} [1-9]/.test(jobs); i++) {
      await new Promise((r) => setTimeout(r, 100));
      jobs = (await rawRequest(t.url, { method: 'GET', path: '/metrics' })).text;
    }
    expect(jobs).toMatch(/^fleetpmap_job_runs_total\{job="partitions",outcome="ok"\} [1-9]\d*$/m);
    for (const job of ['partitions', 'rollup', 'reports']) {
      expect(jobs).toMatch(
        new RegExp(`^fleetpmap_job_runs_total\\{job="${job}",outcome="failed"\\} 0$`, 'm'),
      );
    }
    const lastSuccess =
      /^fleetpmap_job_last_success_timestamp_seconds\{job="partitions"\} (\S+)$/m.exec(jobs);
    expect(Date.now() / 1000 - Number(lastSuccess?.[1])).toBeLessThan(600);
    expect(metrics).toMatch(/^fleetpmap_report_deliveries_total\{outcome="failed"\} 0$/m);
  });
});

describe.each(drivers())('snapshot.push of old data on $name', (driver) => {
  // Retention as shipped: the test harness otherwise keeps a century for its dated fixtures.
  const t = useTestServer(driver, {
    agentHost: 'web-07',
    env: { FLEETPMAP_RETENTION_SAMPLES_DAYS: '14' },
  });
  const push = (takenAtMs: number) => {
    const snapshot = fullSnapshot();
    const host = { ...snapshot.host, bootTimeMs: takenAtMs - 86_400_000 };
    return rawRequest(t.url, {
      path: '/trpc/snapshot.push',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.agentToken}` },
      body: JSON.stringify({ ...snapshot, host, takenAtMs }),
    });
  };

  it('refuses a day the retention no longer keeps with 400, and stores the days it keeps', async () => {
    const before = await t.server.database.storedSnapshotCount();
    const old = await push(Date.now() - 20 * 86_400_000);
    expect(old.status).toBe(400);
    const error = errorOf(old);
    expect(error.data.field).toBe('takenAtMs');
    expect(error.message).toMatch(
      /is older than this server keeps samples \(14 days: from \S+ on\)/,
    );
    expect(await t.server.database.storedSnapshotCount()).toBe(before);
    expect((await push(Date.now() - 13 * 86_400_000)).status).toBe(200);
    expect(await t.server.database.storedSnapshotCount()).toBe(before + 1);
  });

  it('makes no partitions for refused days, however many an agent sends', async () => {
    const partitions = async () =>
      (
        await queryRows<{ n: number }>(
          t.server.database.handle.db,
          `select count(*)::int as n from pg_inherits i
           join pg_class p on p.oid = i.inhparent where p.relname = 'sample_blocks'`,
        )
      )[0]?.n;
    const before = await partitions();
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => push(Date.UTC(2003, 0, 1) + i * 86_400_000)),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 400));
    for (const answer of answers) expect(errorOf(answer).data.field).toBe('takenAtMs');
    expect(await partitions()).toBe(before);
  });
});
