import { describe, expect, it } from 'vitest';
import { type PivotRow, pivotCsv, renderPivot, renderTop } from './top.ts';

describe('top with nothing to show', () => {
  it('says nothing is judged leaking, and with --all that no process has data yet', () => {
    expect(renderTop([])).toBe(
      'no process is judged leaking in this window (--all lists every one)\n',
    );
    // --all lists every process with data: an empty list is a window the aggregates do not
    // reach yet, and pointing at --all again would send the user in a circle.
    expect(renderTop([], true)).toMatch(/^no process has data in this window yet/);
  });
});

describe('top --group-by', () => {
  const group = (over: Partial<PivotRow>): PivotRow => ({
    group: '/opt/api/bin/java',
    hosts: 10,
    leakingHosts: 3,
    processes: 10,
    leakingProcesses: 3,
    medianSlopeKbPerHour: 120,
    medianPctPerHour: 0.01,
    medianLeakingSlopeKbPerHour: 15_000,
    ...over,
  });

  it("shows the leaking processes' median beside the group's, and no negative zero", () => {
    const rows = [
      group({}),
      group({
        group: '/usr/sbin/nginx',
        leakingHosts: 0,
        leakingProcesses: 0,
        medianSlopeKbPerHour: -0.01,
        medianPctPerHour: -0.0001,
        medianLeakingSlopeKbPerHour: null,
      }),
    ];
    const lines = renderPivot(rows).trimEnd().split('\n');
    expect(lines[0]).toMatch(/MEDIAN KIB\/H\s+MEDIAN %\/H\s+LEAKING KIB\/H$/);
    expect(lines[1]).toMatch(
      /^\/opt\/api\/bin\/java\s+3\s+10\s+10\s+3\s+120\.0\s+0\.01\s+15000\.0$/,
    );
    expect(lines[2]).toMatch(/^\/usr\/sbin\/nginx\s+0\s+10\s+10\s+0\s+0\.0\s+0\.00\s+-$/);
    const csv = pivotCsv(rows).trimEnd().split('\r\n');
    expect(csv[0]).toBe(
      'GROUP,LEAKS_ON,HOSTS,PROCESSES,LEAKING,MEDIAN_KIB_PER_H,MEDIAN_%_PER_H,LEAKING_KIB_PER_H',
    );
    expect(csv[2]).toBe('/usr/sbin/nginx,0,10,10,0,0.0,0.00,');
  });
});
