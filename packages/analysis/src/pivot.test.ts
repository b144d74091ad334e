import { describe, expect, it } from 'vitest';
import { pivotByGroup } from './pivot.ts';

const row = (host: string, group: string, leak: boolean, slopeKbPerHour: number) => ({
  host,
  group,
  leak,
  slopeKbPerHour,
  pctPerHour: slopeKbPerHour / 1000,
});

describe('pivotByGroup', () => {
  it('counts leaking hosts out of hosts per group and puts the leaking binary first', () => {
    const rows = [
      row('a', '/usr/bin/node', false, 10),
      row('b', '/usr/bin/node', false, -5),
      row('c', '/usr/bin/node', false, 0),
      row('a', '/opt/api/2.4.1/java', true, 3000),
      row('b', '/opt/api/2.4.1/java', false, 20),
      row('c', '/opt/api/2.4.1/java', true, 1000),
      // Two leaking processes on one host count as one leaking host.
      row('c', '/opt/api/2.4.1/java', true, 2000),
    ];
    const [top, second] = pivotByGroup(rows);
    expect(top).toEqual({
      group: '/opt/api/2.4.1/java',
      hosts: 3,
      leakingHosts: 2,
      processes: 4,
      leakingProcesses: 3,
      medianSlopeKbPerHour: 1500,
      medianPctPerHour: 1.5,
      medianLeakingSlopeKbPerHour: 2000,
    });
    expect(second).toMatchObject({ group: '/usr/bin/node', hosts: 3, leakingHosts: 0 });
    expect(second?.medianLeakingSlopeKbPerHour).toBeNull();
  });

  it('lists the groups that do not leak by how widely they run, not by name', () => {
    const rows = [
      row('a', '[kworker/0:1]', false, 0),
      // Shrinking a little is noise, not a reason to list it below kernel threads.
      row('a', '/usr/sbin/sshd', false, -2.4),
      row('b', '/usr/sbin/sshd', false, -2.4),
      row('a', '/usr/bin/bash', false, 0),
      row('a', '/usr/bin/bash', false, 0),
      row('a', '/usr/bin/bash', false, 0),
    ];
    expect(pivotByGroup(rows).map((g) => g.group)).toEqual([
      '/usr/sbin/sshd',
      '/usr/bin/bash',
      '[kworker/0:1]',
    ]);
  });

  it('is empty for no rows', () => {
    expect(pivotByGroup([])).toEqual([]);
  });
});
