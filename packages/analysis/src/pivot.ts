import { median } from './quantile.ts';

export interface PivotRow {
  host: string;
  /** The grouping key: exe path, comm or cgroup path. */
  group: string;
  leak: boolean;
  slopeKbPerHour: number;
  pctPerHour: number;
}

export interface GroupPivot {
  group: string;
  /** Distinct hosts the group runs on, and on how many of them at least one process leaks. */
  hosts: number;
  leakingHosts: number;
  processes: number;
  leakingProcesses: number;
  /** Median over every process of the group (leaking or not). */
  medianSlopeKbPerHour: number;
  medianPctPerHour: number;
  /** Median over the leaking processes only; null when none leaks. */
  medianLeakingSlopeKbPerHour: number | null;
}

/** A process's group in the pivot by binary: its exe, or `[comm]` when the exe was not readable. */
export function exeGroup(p: { exe: string | null; comm: string }): string {
  return p.exe ?? `[${p.comm}]`;
}

/**
 * The fleet pivot behind `top --group-by`: "this binary leaks on 37 of 400 hosts". Groups are
 * ordered by leaking hosts, then by the share of hosts leaking, then by the leaking processes'
 * median slope, then by hosts and processes.
 */
export function pivotByGroup(rows: readonly PivotRow[]): GroupPivot[] {
  const groups = new Map<string, PivotRow[]>();
  for (const r of rows) {
    const g = groups.get(r.group);
    if (g) g.push(r);
    else groups.set(r.group, [r]);
  }
  const out: GroupPivot[] = [];
  for (const [group, members] of groups) {
    const hosts = new Set(members.map((m) => m.host));
    const leaking = members.filter((m) => m.leak);
    out.push({
      group,
      hosts: hosts.size,
      leakingHosts: new Set(leaking.map((m) => m.host)).size,
      processes: members.length,
      leakingProcesses: leaking.length,
      medianSlopeKbPerHour: median(members.map((m) => m.slopeKbPerHour)),
      medianPctPerHour: median(members.map((m) => m.pctPerHour)),
      medianLeakingSlopeKbPerHour:
        leaking.length > 0 ? median(leaking.map((m) => m.slopeKbPerHour)) : null,
    });
  }
  return out.sort(
    (a, b) =>
      b.leakingHosts - a.leakingHosts ||
      b.leakingHosts / b.hosts - a.leakingHosts / a.hosts ||
      (b.medianLeakingSlopeKbPerHour ?? 0) - (a.medianLeakingSlopeKbPerHour ?? 0) ||
      // Then what runs widest: the median slope of groups that do not leak is noise, and on a
      // quiet fleet the common binaries matter more than kernel threads A to Z.
      b.hosts - a.hosts ||
      b.processes - a.processes ||
      a.group.localeCompare(b.group),
  );
}
