import { rollupAggregates } from '@fleetpmap/db';
import {
  exampleProcess,
  exampleSnapshot,
  type ProcessRecord,
  type Snapshot,
} from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drivers, startTestServer, type TestServer } from '../server/harness.ts';
import { fleetpmap } from '../support/cli.ts';
import { backfilledWorkers, fleetSnapshots, HOUR_MS, SAMPLE_MS } from './fleet-history.ts';

/** Sample `i` of a process growing 20 %/h from 100 MB, with a little noise. */
function growingProcess(pid: number, startTicks: number, name: string, i: number) {
  return exampleProcess({
    pid,
    startTicks,
    comm: name,
    cmdline: name,
    exe: `/usr/bin/${name}`,
    status: {
      ...exampleProcess().status,
      rssAnonKb: Math.round(100_000 * (1 + (0.2 * i * SAMPLE_MS) / HOUR_MS) + (i % 3) * 100),
    },
  });
}

type TopJson = {
  host: string;
  pid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  metric: string;
  currentKb: number;
  growthKb: number;
  slopeKbPerHour: number;
  pctPerHour: number;
  confidence: number;
  leak: boolean;
  timeToLimitHours: number | null;
  limitKb: number | null;
  reason: string;
  startedAtMs: number | null;
  growingSinceMs: number | null;
};

for (const driver of drivers()) {
  describe(`fleet queries through the CLI (${driver.name})`, () => {
    let t: TestServer;
    let reader: string;
    let agent: string;
    const endMs = Date.now() - 60_000;
    const as = (token: string) => ['--server', t.url, '--token', token];

    beforeAll(async () => {
      // The tests roll up themselves, so they know what the aggregates hold.
      t = await startTestServer(driver, { FLEETPMAP_ROLLUP_INTERVAL_MS: String(24 * 3_600_000) });
      const admin = t.client(t.adminToken);
      reader = (await admin.token.create.mutate({ role: 'reader' })).token;
      agent = (await admin.token.create.mutate({ role: 'agent', hostName: 'web-1' })).token;
      const snapshots = fleetSnapshots(endMs, 6);
      for (let i = 0; i < snapshots.length; i += 8) {
        await Promise.all(snapshots.slice(i, i + 8).map((s) => admin.snapshot.push.mutate(s)));
      }
      await rollupAggregates(t.server.database.handle.db, { settleMs: 0 });
    }, 300_000);
    afterAll(async () => {
      await t?.[Symbol.asyncDispose]();
    });

    it('top ranks the leaking processes first, with the verdict, and hides the rest by default', async () => {
      const all = await fleetpmap(['top', '--all', '--json', '--window', '6h', ...as(reader)]);
      expect(all.code, all.stderr).toBe(0);
      const rows = JSON.parse(all.stdout) as TopJson[];
      expect(rows).toHaveLength(8);
      const leaking = rows.filter((r) => r.leak);
      expect(leaking.map((r) => r.host).sort()).toEqual(['web-1', 'web-2']);
      expect(rows.slice(0, 2).every((r) => r.leak && r.comm === 'leaky')).toBe(true);
      // They leak from the first sample on: no onset inside the window to give.
      expect(leaking.map((r) => r.growingSinceMs)).toEqual([null, null]);
      const first = rows[0] as TopJson;
      expect(first).toMatchObject({ pid: 100, startTicks: 1000, metric: 'anon' });
      expect(first.cmdline).toBe('/usr/bin/leaky --serve');
      // 4 %/h of 200 MB is 8000 KiB/h; the level it is measured against has grown by then.
      expect(first.slopeKbPerHour).toBeGreaterThan(6000);
      expect(first.slopeKbPerHour).toBeLessThan(10_000);
      expect(first.pctPerHour).toBeGreaterThan(2.5);
      expect(first.growthKb).toBeGreaterThan(30_000);
      expect(first.confidence).toBeGreaterThan(0.5);
      expect(first.confidence).toBeLessThanOrEqual(1);
      expect(first.timeToLimitHours).toBeGreaterThan(100);
      const flat = rows.filter((r) => r.comm === 'steady');
      expect(flat).toHaveLength(4);
      for (const r of flat) {
        expect(r.leak).toBe(false);
        expect(r.timeToLimitHours).toBeNull();
      }
      expect(rows.find((r) => r.host === 'web-3' && r.comm === 'leaky')?.leak).toBe(false);

      const leaksOnly = await fleetpmap(['top', '--json', ...as(reader)]);
      expect((JSON.parse(leaksOnly.stdout) as TopJson[]).map((r) => r.host).sort()).toEqual([
        'web-1',
        'web-2',
      ]);

      const table = await fleetpmap(['top', ...as(reader)]);
      expect(table.stdout).toMatch(
        /^HOST\s+PID\s+COMMAND\s+UPTIME\s+SIZE\s+GROWTH\s+KIB\/H\s+%\/H\s+CONFIDENCE\s+TO LIMIT\s+VERDICT$/m,
      );
      expect(table.stdout).toMatch(/^web-[12]\s+100\s+\/usr\/bin\/leaky --serve\s+.*LEAK$/m);

      const csv = await fleetpmap(['top', '--csv', '--all', '--host', 'web-*', ...as(reader)]);
      const lines = csv.stdout.trimEnd().split('\r\n');
      expect(lines[0]).toBe(
        'HOST,PID,COMMAND,UPTIME_MS,STARTED_AT_MS,SIZE,GROWTH,KIB/H,%/H,CONFIDENCE,TO_LIMIT_H,LIMIT_KB,VERDICT,GROWING_SINCE_MS',
      );
      expect(lines).toHaveLength(1 + 6);
    });

    it('top filters by host glob, label and comm', async () => {
      const staging = await fleetpmap([
        'top',
        '--all',
        '--json',
        '--label',
        'env=staging',
        ...as(reader),
      ]);
      expect(new Set((JSON.parse(staging.stdout) as TopJson[]).map((r) => r.host))).toEqual(
        new Set(['db-1']),
      );
      const web2 = await fleetpmap(['top', '--all', '--json', '--host', 'web-?2', ...as(reader)]);
      expect(JSON.parse(web2.stdout)).toEqual([]);
      // An empty table says when the filter is why: no host has that name or label.
      for (const args of [
        ['top', '--all', '--host', 'web-?2'],
        ['top', '--group-by', 'exe', '--host', 'web-?2'],
        ['ps', '--host', 'web-?2'],
      ]) {
        const r = await fleetpmap([...args, ...as(reader)]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(
          "no host matches --host 'web-?2' (the server knows 4 hosts; fleetpmap hosts lists them)\n",
        );
      }
      const noLabel = await fleetpmap([
        'top',
        '--label',
        'env=prod',
        '--label',
        'role=db',
        ...as(reader),
      ]);
      expect(noLabel.stdout).toBe(
        'no host matches --label env=prod --label role=db (the server knows 4 hosts; fleetpmap hosts lists them)\n',
      );
      const tooLong = await fleetpmap(['top', '--window', '365d', ...as(reader)]);
      expect(tooLong.code).toBe(1);
      expect(tooLong.stderr).toMatch(/400: .*the window is at most 31d$/m);
      const twice = await fleetpmap([
        'top',
        '--label',
        'env=prod',
        '--label',
        'env=staging',
        ...as(reader),
      ]);
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/--label env given twice \(prod, staging\)/);
      // A host that matches but leaks nothing keeps the usual answer.
      const quiet = await fleetpmap(['top', '--host', 'db-*', ...as(reader)]);
      expect(quiet.stdout).toBe(
        'no process is judged leaking in this window (--all lists every one)\n',
      );
      const steady = await fleetpmap(['top', '--all', '--json', '--comm', 'steady', ...as(reader)]);
      const rows = JSON.parse(steady.stdout) as TopJson[];
      expect(rows).toHaveLength(4);
      expect(rows.every((r) => r.comm === 'steady')).toBe(true);
    });

    it('top --group-by exe counts on how many hosts each binary leaks', async () => {
      const r = await fleetpmap(['top', '--group-by', 'exe', '--json', ...as(reader)]);
      expect(r.code, r.stderr).toBe(0);
      const groups = JSON.parse(r.stdout) as {
        group: string;
        hosts: number;
        leakingHosts: number;
        medianSlopeKbPerHour: number;
      }[];
      expect(groups[0]).toMatchObject({ group: '/usr/bin/leaky', hosts: 4, leakingHosts: 2 });
      expect(groups[1]).toMatchObject({ group: '/usr/bin/steady', hosts: 4, leakingHosts: 0 });
      const text = await fleetpmap(['top', '--group-by', 'exe', ...as(reader)]);
      expect(text.stdout).toMatch(/^\/usr\/bin\/leaky\s+2\s+4\s+4\s+2\s/m);
    });

    it('ps sorts the latest state by the chosen size', async () => {
      const bySwap = await fleetpmap([
        'ps',
        '--sort',
        'swap',
        '--json',
        '--limit',
        '3',
        ...as(reader),
      ]);
      expect(bySwap.code, bySwap.stderr).toBe(0);
      const swap = JSON.parse(bySwap.stdout) as { host: string; comm: string; swapKb: number }[];
      expect(swap.map((r) => `${r.host}/${r.comm}/${r.swapKb}`)).toEqual([
        'db-1/steady/1003',
        'web-3/steady/1002',
        'web-2/steady/1001',
      ]);
      const byHeap = await fleetpmap(['ps', '--sort', 'heap', '--json', ...as(reader)]);
      const heap = JSON.parse(byHeap.stdout) as { host: string; comm: string; heapKb: number }[];
      expect(heap).toHaveLength(8);
      expect(
        heap
          .slice(0, 2)
          .map((r) => r.host)
          .sort(),
      ).toEqual(['web-1', 'web-2']);
      expect(heap.slice(0, 4).every((r) => r.comm === 'leaky')).toBe(true);
      const byRss = await fleetpmap(['ps', '--host', 'web-1', ...as(reader)]);
      expect(byRss.stdout).toMatch(
        /^HOST\s+PID\s+COMMAND\s+UPTIME\s+RSS\s+PSS\s+USS\s+ANON\s+HEAP\s+SWAP$/m,
      );
      const lines = byRss.stdout.trimEnd().split('\n');
      expect(lines[1]).toMatch(/^web-1\s+200\s+\/usr\/bin\/steady\s/);
      expect(lines[2]).toMatch(/^web-1\s+100\s+\/usr\/bin\/leaky --serve\s/);
    });

    it('history prints the series with its fitted trend', async () => {
      const r = await fleetpmap([
        'history',
        'web-1:100',
        '--json',
        '--window',
        '7h',
        ...as(reader),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const h = JSON.parse(r.stdout) as {
        points: { tMs: number; kb: number }[];
        trend: { interceptKb: number; slopeKbPerHour: number; leak: boolean; onset: unknown };
      };
      expect(h.points).toHaveLength(120);
      expect(h.points.at(-1)?.tMs).toBe(endMs);
      expect((h.points.at(-1)?.kb ?? 0) - (h.points[0]?.kb ?? 0)).toBeGreaterThan(40_000);
      expect(h.trend.leak).toBe(true);
      expect(h.trend.slopeKbPerHour).toBeGreaterThan(6000);
      // It grew all along: there is no onset to tell.
      expect(h.trend.onset).toBeNull();
      // The drawn line runs through the floors: at both ends it sits at the series' level.
      const first = h.points[0] as { tMs: number; kb: number };
      const last = h.points.at(-1) as { tMs: number; kb: number };
      const lineAt = (tMs: number) =>
        h.trend.interceptKb + (h.trend.slopeKbPerHour * (tMs - first.tMs)) / 3_600_000;
      expect(Math.abs(lineAt(first.tMs) - first.kb) / first.kb).toBeLessThan(0.03);
      expect(Math.abs(lineAt(last.tMs) - last.kb) / last.kb).toBeLessThan(0.03);
      // The same verdict and figures as top over the same window: history never contradicts it.
      const top = await fleetpmap(['top', '--all', '--window', '7h', '--json', ...as(reader)]);
      const row = (JSON.parse(top.stdout) as TopJson[]).find(
        (x) => x.host === 'web-1' && x.pid === 100,
      );
      const figures = (v: Record<string, unknown>) => ({
        leak: v.leak,
        reason: v.reason,
        slopeKbPerHour: v.slopeKbPerHour,
        pctPerHour: v.pctPerHour,
        confidence: v.confidence,
        timeToLimitHours: v.timeToLimitHours,
        limitKb: v.limitKb,
      });
      expect(figures(h.trend)).toEqual(figures(row as unknown as Record<string, unknown>));
      const text = await fleetpmap(['history', 'web-1:100', ...as(reader)]);
      expect(text.stdout).toMatch(/^web-1:100 \/usr\/bin\/leaky --serve$/m);
      expect(text.stdout).toMatch(/[┤┼]/);
      expect(text.stdout).toMatch(/verdict LEAK$/m);
      const flat = await fleetpmap(['history', 'web-1:200', '--json', ...as(reader)]);
      expect((JSON.parse(flat.stdout) as { trend: { leak: boolean } }).trend.leak).toBe(false);
      const missing = await fleetpmap(['history', 'web-1:999', ...as(reader)]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/404.*no samples of web-1:999/);
      const typo = await fleetpmap(['history', 'web-01:100', ...as(reader)]);
      expect(typo.code).not.toBe(0);
      expect(typo.stderr).toMatch(/404: no host named web-01 has reported to this server/);
    });

    it('diff lists the grown mapping first, then what appeared and disappeared', async () => {
      const r = await fleetpmap(['diff', 'web-1:100', '--json', ...as(reader)]);
      expect(r.code, r.stderr).toBe(0);
      const d = JSON.parse(r.stdout) as {
        toMs: number;
        changes: { kind: string; path: string; rssDeltaKb: number }[];
      };
      expect(d.toMs).toBe(endMs);
      expect(d.changes.map((c) => `${c.kind} ${c.path || 'anon'} ${c.rssDeltaKb}`)).toEqual([
        'grew [heap] 50000',
        'appeared anon 30000',
        'disappeared /usr/lib/libold.so -200',
      ]);
      const text = await fleetpmap(['diff', 'web-1:100', ...as(reader)]);
      expect(text.stdout.split('\n')[2]).toMatch(
        /^grew\s+55d4a3c00000-\S+\s+rw-p\s+39\.1M\s+87\.9M\s+\+48\.8M\s+\+48\.8M\s+\[heap\]$/,
      );
      const none = await fleetpmap(['diff', 'web-2:100', ...as(reader)]);
      expect(none.code).not.toBe(0);
      expect(none.stderr).toMatch(/no full map of web-2:100/);
      const typo = await fleetpmap(['diff', 'web2:100', ...as(reader)]);
      expect(typo.stderr).toMatch(/404: no host named web2 has reported to this server/);
    });

    it('the reader role is enough; an agent token is refused for queries', async () => {
      const r = await fleetpmap(['top', '--json', ...as(agent)]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/403: an agent token may not call this/);
      const ps = await fleetpmap(['ps', ...as(agent)]);
      expect(ps.stderr).toMatch(/403/);
    });

    it('import pushes NDJSON snapshots, reports bad lines by number and imports the rest', async () => {
      const base = exampleSnapshot();
      const snap = (i: number) =>
        JSON.stringify({
          ...base,
          snapshotId: `0b6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a${String(i).padStart(2, '0')}`,
          takenAtMs: endMs - (10 - i) * 60_000,
          host: { ...base.host, name: 'imp-1' },
        });
      const broken = JSON.parse(snap(4)) as { processes: { pid: number }[] };
      (broken.processes[0] as { pid: number }).pid = -5;
      const ndjson = [snap(1), snap(2), '{"schema": ', snap(3), JSON.stringify(broken), '', snap(5)]
        .join('\n')
        .concat('\n');
      const r = await fleetpmap(['import', '-', '--json', ...as(t.adminToken)], { input: ndjson });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ lines: 7, imported: 4, duplicates: 0 });
      expect(r.stderr).toMatch(/^fleetpmap: line 3: not JSON/m);
      expect(r.stderr).toMatch(/^fleetpmap: line 5: processes\[0\]\.pid: /m);
      expect(r.stderr).not.toMatch(/line [12467]:/);
      expect(r.stderr).toMatch(/7 lines: 4 imported, 0 already stored, 2 bad/);
      const hosts = await t.client(reader).host.list.query();
      expect(hosts.find((h) => h.name === 'imp-1')?.lastSeenMs).toBe(endMs - 5 * 60_000);

      const again = await fleetpmap(['import', '-', ...as(t.adminToken)], {
        input: `${snap(1)}\n${snap(2)}\n`,
      });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toMatch(/2 lines: 0 imported, 2 already stored, 0 bad/);

      // An agent token writes only its own host (web-1), so imp-1's lines are refused one by one.
      const asAgent = await fleetpmap(['import', '-', ...as(agent)], { input: `${snap(6)}\n` });
      expect(asAgent.code).toBe(1);
      expect(asAgent.stderr).toMatch(/line 1: 403: this agent token is bound to host "web-1"/);
    });

    it('top sees new data once the rollup has run, and judges concurrent workers one by one', async () => {
      const admin = t.client(t.adminToken);
      for (const s of backfilledWorkers(endMs)) await admin.snapshot.push.mutate(s);
      const query = ['top', '--all', '--json', '--host', 'late-1', ...as(reader)];
      expect(JSON.parse((await fleetpmap(query)).stdout)).toEqual([]);
      await rollupAggregates(t.server.database.handle.db, { settleMs: 0 });
      const rows = JSON.parse((await fleetpmap(query)).stdout) as TopJson[];
      expect(rows.map((r) => `${r.pid} ${r.leak}`)).toEqual(['300 true', '301 false']);
    });

    it('judges growth from the real start when the agent sends a boot time, from first sight otherwise', async () => {
      // The same process on three hosts, growing 20 %/h from a minute after its start for 81
      // minutes. young-1's agent sends the boot time; young-2's and young-3's do not, and young-3
      // reported for 21 minutes before the process appeared.
      const base = exampleSnapshot();
      const steps = 28;
      const firstMs = endMs - (steps - 1) * SAMPLE_MS;
      const startedAtMs = firstMs - 60_000;
      const grower = (i: number) => growingProcess(400, 6000, 'grower', i);
      const admin = t.client(t.adminToken);
      const push = (name: string, takenAtMs: number, processes: ProcessRecord[], boot?: number) => {
        const host: Snapshot['host'] = {
          ...base.host,
          name,
          bootId: '6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d77',
        };
        if (boot === undefined) delete host.bootTimeMs;
        else host.bootTimeMs = boot;
        return admin.snapshot.push.mutate({
          ...base,
          snapshotId: crypto.randomUUID(),
          takenAtMs,
          host,
          processes,
        });
      };
      for (let i = 0; i < 7; i++) {
        await push('young-3', firstMs - (7 - i) * SAMPLE_MS, [exampleProcess()]);
      }
      for (let i = 0; i < steps; i++) {
        const tMs = firstMs + i * SAMPLE_MS;
        // startTicks 6000 at 100 Hz: the process started 60 s after boot.
        await push('young-1', tMs, [grower(i)], startedAtMs - 60_000);
        await push('young-2', tMs, [grower(i)]);
        await push('young-3', tMs, [exampleProcess(), grower(i)]);
      }
      await rollupAggregates(t.server.database.handle.db, { settleMs: 0 });
      const top = await fleetpmap(['top', '--all', '--json', '--comm', 'grower', ...as(reader)]);
      expect(top.code, top.stderr).toBe(0);
      const byHost = new Map((JSON.parse(top.stdout) as TopJson[]).map((r) => [r.host, r]));
      // Its first 30 minutes are startup: what is left is too short to judge.
      expect(byHost.get('young-1')).toMatchObject({ startedAtMs, leak: false });
      expect(byHost.get('young-1')?.reason).toBe('too-little-data');
      // Start unknown, seen since the host's first snapshot: all 81 minutes count.
      expect(byHost.get('young-2')).toMatchObject({ startedAtMs: null, leak: true });
      // Start unknown, but it appeared well after its host: taken to have started then.
      expect(byHost.get('young-3')).toMatchObject({ startedAtMs: null, leak: false });
      expect(byHost.get('young-3')?.reason).toBe('too-little-data');

      const ps = await fleetpmap(['ps', '--json', '--host', 'young-?', ...as(reader)]);
      const psRows = JSON.parse(ps.stdout) as {
        host: string;
        pid: number;
        takenAtMs: number;
        firstSeenMs: number;
        startedAtMs: number | null;
      }[];
      const g1 = psRows.find((r) => r.host === 'young-1' && r.pid === 400);
      expect(g1).toMatchObject({ takenAtMs: endMs, firstSeenMs: firstMs, startedAtMs });
      const table = await fleetpmap(['ps', '--host', 'young-?', ...as(reader)]);
      // 82 minutes since the start (81 observed); young-2 only knows the 81 minutes it was seen.
      expect(table.stdout).toMatch(/^young-1\s+400\s+grower\s+1h22m\s/m);
      expect(table.stdout).toMatch(/^young-2\s+400\s+grower\s+>1h21m\s/m);
    });

    it('runs the time to limit to the cgroup memory limit when it is below MemTotal', async () => {
      // The same process growing 20 %/h on two hosts of 24.5 GB; on capped-1 its cgroup allows
      // 1 GiB (a container or MemoryMax=), on uncapped-1 nothing is known.
      const base = exampleSnapshot();
      const steps = 28;
      const firstMs = endMs - (steps - 1) * SAMPLE_MS;
      const capped = (i: number, memoryLimitKb: number | undefined) => {
        const p = growingProcess(500, 7000, 'capped', i);
        if (memoryLimitKb === undefined) delete p.memoryLimitKb;
        else p.memoryLimitKb = memoryLimitKb;
        return p;
      };
      const admin = t.client(t.adminToken);
      const push = (name: string, takenAtMs: number, process: ProcessRecord) => {
        const host: Snapshot['host'] = { ...base.host, name };
        delete host.bootTimeMs;
        return admin.snapshot.push.mutate({
          ...base,
          snapshotId: crypto.randomUUID(),
          takenAtMs,
          host,
          processes: [process],
        });
      };
      for (let i = 0; i < steps; i++) {
        const tMs = firstMs + i * SAMPLE_MS;
        await push('capped-1', tMs, capped(i, 1_048_576));
        await push('uncapped-1', tMs, capped(i, undefined));
      }
      await rollupAggregates(t.server.database.handle.db, { settleMs: 0 });
      const top = await fleetpmap(['top', '--all', '--json', '--comm', 'capped', ...as(reader)]);
      expect(top.code, top.stderr).toBe(0);
      const byHost = new Map((JSON.parse(top.stdout) as TopJson[]).map((r) => [r.host, r]));
      const c = byHost.get('capped-1') as TopJson;
      const u = byHost.get('uncapped-1') as TopJson;
      expect(c).toMatchObject({ leak: true, limitKb: 1_048_576 });
      expect(u).toMatchObject({ leak: true, limitKb: base.host.memTotalKb });
      expect(c.slopeKbPerHour).toBeCloseTo(u.slopeKbPerHour, 6);
      // 1 GiB is reached in days at this pace, 24.5 GB in weeks.
      expect(c.timeToLimitHours).toBeCloseTo((1_048_576 - c.currentKb) / c.slopeKbPerHour, 6);
      expect(u.timeToLimitHours).toBeCloseTo((24_576_000 - u.currentKb) / u.slopeKbPerHour, 6);
      expect(u.timeToLimitHours as number).toBeGreaterThan(20 * (c.timeToLimitHours as number));

      const csv = await fleetpmap(['top', '--csv', '--all', '--comm', 'capped', ...as(reader)]);
      const cappedLine = csv.stdout.split('\r\n').find((l) => l.startsWith('capped-1,'));
      expect(cappedLine?.split(',').slice(-4, -2)).toEqual([
        (c.timeToLimitHours as number).toFixed(1),
        '1048576',
      ]);

      const ps = await fleetpmap(['ps', '--json', '--host', '*capped-1', ...as(reader)]);
      const limits = Object.fromEntries(
        (JSON.parse(ps.stdout) as { host: string; limitKb: number | null }[]).map((r) => [
          r.host,
          r.limitKb,
        ]),
      );
      expect(limits).toEqual({ 'capped-1': 1_048_576, 'uncapped-1': 24_576_000 });

      const history = await fleetpmap(['history', 'capped-1:500', '--json', ...as(reader)]);
      const trend = (
        JSON.parse(history.stdout) as { trend: { limitKb: number; timeToLimitHours: number } }
      ).trend;
      expect(trend.limitKb).toBe(1_048_576);
      expect(trend.timeToLimitHours).toBeLessThan(100);
      const text = await fleetpmap(['history', 'capped-1:500', ...as(reader)]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(/time to limit \d+h\d*m? of 1\.0G, verdict LEAK$/m);
    });
  });
}
