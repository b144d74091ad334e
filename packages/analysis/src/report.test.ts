import { describe, expect, it } from 'vitest';
import {
  buildLeakReport,
  describeScope,
  type PreviousReport,
  type ReportOptions,
  type ReportProcess,
  scopeKey,
  scopeOfKey,
} from './report.ts';
import { quietProcess, REPORT_TO_MS } from './report-fixture.ts';

const HOUR = 3_600_000;
const TO_MS = REPORT_TO_MS;

const proc = quietProcess;

function leak(host: string, pid: number, extra: Partial<ReportProcess> = {}): ReportProcess {
  return proc(host, pid, {
    leak: true,
    slopeKbPerHour: 1000,
    pctPerHour: 0.2,
    confidence: 0.9,
    growthKb: 24_000,
    ...extra,
  });
}

const OPTS: ReportOptions = {
  generatedAtMs: TO_MS + 5 * 60_000,
  windowMs: 24 * HOUR,
  toMs: TO_MS,
  metric: 'rss',
};

function previous(...leaks: ReportProcess[]): PreviousReport {
  return { id: 'r-41', generatedAtMs: TO_MS - 24 * HOUR, leaks };
}

describe('buildLeakReport', () => {
  it('counts every host and process, and sums only the leaking processes that grow', () => {
    const report = buildLeakReport(
      [
        leak('a', 1, { slopeKbPerHour: 3000 }),
        leak('a', 2, { slopeKbPerHour: 500 }),
        // A leak verdict with a shrinking slope adds nothing to the fleet's loss rate.
        leak('b', 3, { slopeKbPerHour: -200 }),
        // Fast but not judged leaking (a cache warming up): not part of the loss rate.
        proc('c', 4, { slopeKbPerHour: 90_000 }),
        proc('d', 5),
      ],
      OPTS,
    );
    expect(report.fleet).toEqual({
      hosts: 4,
      processes: 5,
      leakingHosts: 2,
      leakingProcesses: 3,
      leakingKbPerHour: 3500,
    });
    expect(report.window).toEqual({ fromMs: TO_MS - 24 * HOUR, toMs: TO_MS, ms: 24 * HOUR });
    expect(report.metric).toBe('rss');
    expect(report.generatedAtMs).toBe(OPTS.generatedAtMs);
    expect(report.leaks.map((l) => l.pid)).toEqual([1, 2, 3]);
  });

  it('lists the leak closest to its limit first, leaks without a limit last, ties by slope', () => {
    const report = buildLeakReport(
      [
        leak('a', 1, { timeToLimitHours: 40, slopeKbPerHour: 9000 }),
        leak('a', 2, { timeToLimitHours: null, slopeKbPerHour: 50_000 }),
        leak('b', 3, { timeToLimitHours: 3, slopeKbPerHour: 100 }),
        leak('c', 4, { timeToLimitHours: null, slopeKbPerHour: 70_000 }),
        leak('d', 5, { timeToLimitHours: 40, slopeKbPerHour: 12_000 }),
        proc('e', 6, { timeToLimitHours: 1 }),
      ],
      OPTS,
    );
    expect(report.leaks.map((l) => l.pid)).toEqual([3, 5, 1, 4, 2]);
  });

  it('keeps only the report fields of a ranking row, so stored reports stay small', () => {
    const row = { ...leak('a', 1), reason: 'leak', metric: 'rss', buckets: [1, 2, 3] };
    const [listed] = buildLeakReport([row], OPTS).leaks;
    expect(listed).toEqual({ ...leak('a', 1), status: null });
  });

  it('caps the listed leaks and groups and counts the rest', () => {
    const processes = [
      leak('a', 1, { timeToLimitHours: 1 }),
      leak('b', 2, { timeToLimitHours: 2, exe: '/usr/bin/python3', comm: 'python3' }),
      leak('c', 3, { timeToLimitHours: 3, exe: '/usr/sbin/nginx', comm: 'nginx' }),
      leak('d', 4, { timeToLimitHours: 4 }),
      leak('e', 5, { timeToLimitHours: 5 }),
      proc('f', 6),
    ];
    const report = buildLeakReport(processes, { ...OPTS, maxLeaks: 2, maxGroups: 1 });
    expect(report.leaks.map((l) => l.pid)).toEqual([1, 2]);
    expect(report.leaksOmitted).toBe(3);
    expect(report.groups.map((g) => g.group)).toEqual(['/usr/bin/java']);
    expect(report.groupsOmitted).toBe(2);
    // The totals are the fleet's, not the listed part's.
    expect(report.fleet.leakingProcesses).toBe(5);
    expect(report.fleet.leakingHosts).toBe(5);
  });

  it('counts new and continuing leaks over all leaks, including those beyond the cap', () => {
    const processes = [
      leak('a', 1, { timeToLimitHours: 1 }),
      leak('b', 2, { timeToLimitHours: 2 }),
      leak('c', 3, { timeToLimitHours: 3 }),
      leak('d', 4, { timeToLimitHours: 4 }),
    ];
    // Only the unlisted leaks on c and d were in the previous report.
    const report = buildLeakReport(processes, {
      ...OPTS,
      maxLeaks: 1,
      previous: previous(leak('c', 3), leak('d', 4)),
    });
    expect(report.leaks).toHaveLength(1);
    expect(report.leaks[0]?.status).toBe('new');
    expect(report.changes).toMatchObject({ newLeaks: 2, continuingLeaks: 2, resolved: [] });
  });

  it('caps the resolved list as it caps the leaks', () => {
    const report = buildLeakReport([proc('a', 1)], {
      ...OPTS,
      maxLeaks: 2,
      previous: previous(leak('x', 1), leak('y', 2), leak('z', 3)),
    });
    expect(report.changes?.resolved.map((r) => r.host)).toEqual(['x', 'y']);
    expect(report.changes?.resolvedOmitted).toBe(1);
  });

  it('has no changes and no status without a previous report', () => {
    const report = buildLeakReport([leak('a', 1)], { ...OPTS, previous: null });
    expect(report.changes).toBeNull();
    expect(report.leaks[0]?.status).toBeNull();
    expect(buildLeakReport([leak('a', 1)], OPTS).changes).toBeNull();
  });

  it('calls every leak new after a previous report without leaks', () => {
    const report = buildLeakReport([leak('a', 1), leak('b', 2)], {
      ...OPTS,
      previous: previous(),
    });
    expect(report.leaks.map((l) => l.status)).toEqual(['new', 'new']);
    expect(report.changes).toEqual({
      previousId: 'r-41',
      previousGeneratedAtMs: TO_MS - 24 * HOUR,
      newLeaks: 2,
      continuingLeaks: 0,
      resolved: [],
      resolvedOmitted: 0,
    });
  });

  it('follows a leak across a restart by host, binary and command line, not by pid', () => {
    const report = buildLeakReport(
      [
        // Restarted since the previous report: new pid, same service.
        leak('a', 2001),
        // The same binary on another host was not leaking before.
        leak('b', 1000),
        // Same host and binary, other arguments: another service.
        leak('a', 3000, { cmdline: '/usr/bin/java -jar billing.jar' }),
      ],
      { ...OPTS, previous: previous(leak('a', 1000)) },
    );
    const status = Object.fromEntries(report.leaks.map((l) => [`${l.host}/${l.pid}`, l.status]));
    expect(status).toEqual({ 'a/2001': 'continuing', 'b/1000': 'new', 'a/3000': 'new' });
    expect(report.changes).toMatchObject({ newLeaks: 2, continuingLeaks: 1, resolved: [] });
  });

  it('tells kernel-thread-like processes apart by comm when they have no command line', () => {
    const report = buildLeakReport([leak('a', 7, { cmdline: '', comm: 'kworker', exe: null })], {
      ...OPTS,
      previous: previous(leak('a', 8, { cmdline: '', comm: 'ksoftirqd', exe: null })),
    });
    expect(report.leaks[0]?.status).toBe('new');
    expect(report.changes?.resolved.map((r) => r.comm)).toEqual(['ksoftirqd']);
  });

  it('lists a leak gone from the report once, even when two of its processes leaked before', () => {
    const report = buildLeakReport(
      [
        // Still running and still on host b, but no longer judged leaking.
        proc('b', 20, { cmdline: '/usr/bin/java -jar worker.jar' }),
        leak('a', 1),
      ],
      {
        ...OPTS,
        previous: previous(
          leak('a', 1),
          leak('b', 20, { cmdline: '/usr/bin/java -jar worker.jar' }),
          leak('b', 21, { cmdline: '/usr/bin/java -jar worker.jar' }),
        ),
      },
    );
    expect(report.changes?.resolved).toEqual([
      {
        host: 'b',
        pid: 20,
        comm: 'java',
        cmdline: '/usr/bin/java -jar worker.jar',
        exe: '/usr/bin/java',
      },
    ]);
    expect(report.changes?.resolvedOmitted).toBe(0);
    expect(report.changes).toMatchObject({ newLeaks: 0, continuingLeaks: 1 });
  });

  it('groups by binary, falling back to comm, and keeps only binaries that leak somewhere', () => {
    const python = { exe: null, comm: 'python3', cmdline: 'python3 etl.py' };
    const report = buildLeakReport(
      [
        leak('a', 1, { slopeKbPerHour: 4000 }),
        leak('b', 2, { slopeKbPerHour: 2000 }),
        leak('b', 3, { slopeKbPerHour: 1000 }),
        proc('c', 4),
        leak('a', 5, { ...python, slopeKbPerHour: 300 }),
        proc('b', 6, python),
        // Never leaks anywhere: absent from the groups even though it runs on every host.
        proc('a', 7, { exe: '/usr/sbin/sshd', comm: 'sshd' }),
        proc('b', 8, { exe: '/usr/sbin/sshd', comm: 'sshd' }),
        proc('c', 9, { exe: '/usr/sbin/sshd', comm: 'sshd' }),
      ],
      OPTS,
    );
    expect(report.groups).toEqual([
      {
        group: '/usr/bin/java',
        hosts: 3,
        leakingHosts: 2,
        processes: 4,
        leakingProcesses: 3,
        medianSlopeKbPerHour: 1500,
        medianPctPerHour: 0.2,
        medianLeakingSlopeKbPerHour: 2000,
      },
      {
        group: '[python3]',
        hosts: 2,
        leakingHosts: 1,
        processes: 2,
        leakingProcesses: 1,
        medianSlopeKbPerHour: 150,
        medianPctPerHour: 0.1,
        medianLeakingSlopeKbPerHour: 300,
      },
    ]);
    expect(report.groupsOmitted).toBe(0);
  });

  it('counts quiet processes given without a full row', () => {
    const report = buildLeakReport(
      [
        leak('a', 1),
        {
          host: 'b',
          comm: 'java',
          exe: '/usr/bin/java',
          slopeKbPerHour: 5,
          pctPerHour: 0,
          leak: false,
        },
      ],
      OPTS,
    );
    expect(report.fleet).toMatchObject({ hosts: 2, processes: 2, leakingProcesses: 1 });
    expect(report.groups[0]).toMatchObject({ group: '/usr/bin/java', hosts: 2, leakingHosts: 1 });
  });

  it('is an empty report for a quiet fleet', () => {
    const report = buildLeakReport([proc('a', 1), proc('b', 2)], OPTS);
    expect(report.leaks).toEqual([]);
    expect(report.groups).toEqual([]);
    expect(report.leaksOmitted).toBe(0);
    expect(report.fleet).toEqual({
      hosts: 2,
      processes: 2,
      leakingHosts: 0,
      leakingProcesses: 0,
      leakingKbPerHour: 0,
    });
  });
});

describe('report scopes', () => {
  it('gives one key per set of hosts asked the same way, and none for the whole fleet', () => {
    expect(scopeKey({ hostGlob: null, labels: null })).toBe('');
    expect(scopeKey({ hostGlob: null, labels: {} })).toBe('');
    const a = scopeKey({ hostGlob: 'web-*', labels: { env: 'prod', team: 'a' } });
    expect(scopeKey({ hostGlob: 'web-*', labels: { team: 'a', env: 'prod' } })).toBe(a);
    expect(scopeKey({ hostGlob: 'web-*', labels: { env: 'prod' } })).not.toBe(a);
    expect(scopeKey({ hostGlob: 'db-*', labels: { env: 'prod', team: 'a' } })).not.toBe(a);
    expect(describeScope({ hostGlob: 'web-*', labels: { env: 'prod' } })).toBe(
      'hosts web-*, labels env=prod',
    );
    expect(describeScope({ hostGlob: null, labels: null })).toBeNull();
    expect(scopeOfKey(a)).toEqual({ hostGlob: 'web-*', labels: { env: 'prod', team: 'a' } });
    expect(scopeOfKey(scopeKey({ hostGlob: null, labels: { env: 'prod' } }))).toEqual({
      hostGlob: null,
      labels: { env: 'prod' },
    });
    expect(scopeOfKey('')).toEqual({ hostGlob: null, labels: null });
  });

  it('carries its scope, the whole fleet when none is given', () => {
    expect(buildLeakReport([], OPTS).scope).toEqual({ hostGlob: null, labels: null });
    const scope = { hostGlob: 'web-*', labels: { env: 'prod' } };
    expect(buildLeakReport([], { ...OPTS, scope }).scope).toEqual(scope);
  });
});
