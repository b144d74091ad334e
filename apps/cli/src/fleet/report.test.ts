import { buildLeakReport, type ReportProcess } from '@fleetpmap/analysis';
import { describe, expect, it } from 'vitest';
import { renderReportText, type StoredReport } from './report.ts';

const HOUR = 3_600_000;
const TO = Date.UTC(2026, 10, 24, 6);

function proc(host: string, pid: number, extra: Partial<ReportProcess> = {}): ReportProcess {
  return {
    host,
    pid,
    startTicks: 1,
    comm: 'api',
    cmdline: '/srv/api --port 80',
    exe: '/srv/api',
    cgroup: null,
    firstSeenMs: TO - 48 * HOUR,
    startedAtMs: TO - 48 * HOUR,
    currentKb: 2 * 1024 * 1024,
    growthKb: 300 * 1024,
    slopeKbPerHour: 12_800,
    pctPerHour: 0.61,
    confidence: 0.94,
    leak: true,
    timeToLimitHours: 100,
    limitKb: 16 * 1024 * 1024,
    incarnations: 1,
    ...extra,
  };
}

function stored(report: ReturnType<typeof buildLeakReport>, id = 12): StoredReport {
  return {
    id,
    schedule: 'scheduled',
    slotMs: TO,
    scope: report.scope,
    state: 'done',
    windowMs: 24 * HOUR,
    metric: 'anon',
    generatedAtMs: TO,
    hosts: report.fleet.hosts,
    processes: report.fleet.processes,
    leakingHosts: report.fleet.leakingHosts,
    leakingProcesses: report.fleet.leakingProcesses,
    newLeaks: report.changes?.newLeaks ?? null,
    error: null,
    delivery: 'none',
    deliveryAttempts: 0,
    deliveredAtMs: null,
    deliveryError: null,
    report,
  };
}

const opts = { generatedAtMs: TO, windowMs: 24 * HOUR, toMs: TO, metric: 'anon' };

describe('report show as text', () => {
  it('gives the totals, then the leaks and the binaries as tables', () => {
    const report = buildLeakReport(
      [
        proc('web-1', 41),
        proc('web-2', 42, { timeToLimitHours: 20 }),
        { ...proc('db-1', 7), leak: false },
      ],
      opts,
    );
    expect(renderReportText(stored(report))).toBe(
      [
        'fleetpmap leak report 12 (scheduled), 24h of anon to 2026-11-24T06:00:00Z',
        '2 processes leak on 2 of 3 hosts (3 processes watched), together +25.0M/h',
        '',
        'HOST   PID  COMMAND             SIZE  GROWTH  KIB/H  %/H   CONFIDENCE  TO LIMIT',
        'web-2  42   /srv/api --port 80  2.0G  300M    12800  0.61  0.94        20h',
        'web-1  41   /srv/api --port 80  2.0G  300M    12800  0.61  0.94        4d4h',
        '',
        'BINARY    LEAKS ON  HOSTS  LEAKING  LEAKING KIB/H',
        '/srv/api  2         3      2        12800.0',
        '',
      ].join('\n'),
    );
  });

  it('marks new and continuing leaks, lists the resolved, and shows no control character', () => {
    const report = buildLeakReport([proc('web-1', 41, { cmdline: 'api \u001b[2Jx' })], {
      ...opts,
      previous: {
        id: '11',
        generatedAtMs: TO - 24 * HOUR,
        leaks: [{ host: 'web-9', pid: 5, comm: 'old', cmdline: 'old --run', exe: '/srv/old' }],
      },
    });
    const text = renderReportText(stored(report));
    expect(text).toContain(
      'since report 11 of 2026-11-23T06:00:00Z: 1 new, 0 continuing, 1 resolved',
    );
    expect(text).toMatch(/^web-1\s+41\s+api \?\[2Jx\s+.*\s+new$/m);
    expect(text).toMatch(
      /^resolved since report 11:\nHOST\s+PID\s+COMMAND\nweb-9\s+5\s+old --run$/m,
    );
    expect(text).not.toContain('\u001b');
  });

  it('says plainly when nothing leaks', () => {
    const report = buildLeakReport([{ ...proc('web-1', 41), leak: false }], opts);
    expect(renderReportText(stored(report, 3))).toBe(
      'fleetpmap leak report 3 (scheduled), 24h of anon to 2026-11-24T06:00:00Z\n' +
        'no process leaks on 1 host (1 process watched)\n',
    );
  });
});
