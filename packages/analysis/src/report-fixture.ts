import type { ReportProcess } from './report.ts';

const HOUR_MS = 3_600_000;

/** Where the report tests' windows end. */
export const REPORT_TO_MS = Date.UTC(2026, 10, 24, 6);

/**
 * For the report tests: a java process seen for two days before `REPORT_TO_MS`, not leaking;
 * each test overrides what it is about.
 */
export function quietProcess(
  host: string,
  pid: number,
  extra: Partial<ReportProcess> = {},
): ReportProcess {
  return {
    host,
    pid,
    startTicks: pid * 100,
    comm: 'java',
    cmdline: '/usr/bin/java -jar api.jar',
    exe: '/usr/bin/java',
    cgroup: null,
    firstSeenMs: REPORT_TO_MS - 48 * HOUR_MS,
    startedAtMs: REPORT_TO_MS - 48 * HOUR_MS,
    currentKb: 500_000,
    growthKb: 0,
    slopeKbPerHour: 0,
    pctPerHour: 0,
    confidence: 0,
    leak: false,
    timeToLimitHours: null,
    limitKb: null,
    incarnations: 1,
    growingSinceMs: null,
    ...extra,
  };
}
