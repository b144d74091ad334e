import type { ProcessRecord, Snapshot } from '@fleetpmap/protocol';
import { type Fleet, type Instance, sampleInstance } from './fleet.ts';
import { leakRate } from './leak-rate.ts';
import { Rng } from './rng.ts';

const CLOCK_TICKS_PER_SEC = 100;

export interface TruthRecord {
  host: string;
  name: string;
  comm: string;
  exe: string;
  cgroup: string;
  leak: boolean;
  leakOnsetMs: number | null;
  leakRatePctPerHour: number;
  incarnations: { pid: number; startTicks: number; startMs: number; endMs: number }[];
}

export interface Truth {
  scenario: string;
  seed: number;
  startMs: number;
  endMs: number;
  sampleIntervalSec: number;
  processes: TruthRecord[];
}

function startTicks(fleet: Fleet, startMs: number): number {
  return Math.max(0, Math.round(((startMs - fleet.bootMs) / 1000) * CLOCK_TICKS_PER_SEC));
}

/** Which (host, process) leaks, with the pid and start ticks of every incarnation. */
export function truthOf(fleet: Fleet): Truth {
  return {
    scenario: fleet.scenario.name,
    seed: fleet.scenario.seed,
    startMs: fleet.startMs,
    endMs: fleet.endMs,
    sampleIntervalSec: fleet.scenario.sampleIntervalSec,
    processes: fleet.instances.map((i) => ({
      host: i.host,
      name: i.name,
      comm: i.comm,
      exe: i.exe,
      cgroup: i.cgroup,
      leak: i.leak,
      leakOnsetMs: i.leakOnsetMs,
      leakRatePctPerHour: leakRate(i),
      incarnations: i.incarnations.map((inc) => ({
        pid: inc.pid,
        startTicks: startTicks(fleet, inc.startMs),
        startMs: inc.startMs,
        endMs: inc.endMs,
      })),
    })),
  };
}

/**
 * Every snapshot of one host, in time order, as the agent's cheap tier would send them
 * (status only). Anonymous memory is all resident (VmSwap 0), so anon = RssAnon.
 */
export function* hostSnapshots(fleet: Fleet, hostName: string): Generator<Snapshot> {
  const host = fleet.hosts.find((h) => h.name === hostName);
  if (!host) throw new Error(`unknown host ${hostName}`);
  const mine = fleet.instances.filter((i) => i.host === hostName);
  const ticks = Math.ceil((fleet.endMs - fleet.startMs) / fleet.intervalMs);
  const series = mine.map((inst) => {
    const values = new Float64Array(ticks).fill(Number.NaN);
    const incs = new Int32Array(ticks).fill(-1);
    sampleInstance(fleet, inst, (t, k, kb) => {
      const i = Math.round((t - fleet.startMs) / fleet.intervalMs);
      values[i] = kb;
      incs[i] = k;
    });
    return { inst, values, incs, hwm: 0, lastInc: -1 };
  });
  // Ids depend on the history's start too: a replay is a duplicate, a shifted re-run is not.
  const rng = new Rng(`${fleet.scenario.seed}:${fleet.startMs}:${hostName}:ids`);
  for (let i = 0; i < ticks; i++) {
    const takenAtMs = fleet.startMs + i * fleet.intervalMs;
    const processes: ProcessRecord[] = [];
    for (const s of series) {
      const kb = s.values[i] as number;
      const k = s.incs[i] as number;
      if (Number.isNaN(kb) || k < 0) continue;
      if (k !== s.lastInc) {
        s.hwm = 0;
        s.lastInc = k;
      }
      processes.push(record(fleet, s.inst, k, kb, s));
    }
    yield {
      schema: 'fleetpmap.snapshot/v1',
      snapshotId: uuid(rng),
      takenAtMs,
      host: {
        name: host.name,
        bootId: host.bootId,
        kernel: '6.18.0-sim',
        memTotalKb: host.memTotalKb,
        pageSizeKb: 4,
        clockTicksPerSec: CLOCK_TICKS_PER_SEC,
        // Without the boot time a receiver cannot tell when a process started, and the verdict
        // would judge every restart's startup as if it were steady state.
        bootTimeMs: fleet.bootMs,
        labels: { scenario: fleet.scenario.name.slice(0, 255) },
      },
      agent: { version: 'fleetpmap-sim/1' },
      processes,
    };
  }
}

function record(
  fleet: Fleet,
  inst: Instance,
  k: number,
  anonKb: number,
  s: { hwm: number },
): ProcessRecord {
  const inc = inst.incarnations[k];
  if (!inc) throw new Error('incarnation out of range');
  const fileKb = Math.round(inst.baseKb * 0.08) + 2048;
  const shmemKb = 512;
  const rss = anonKb + fileKb + shmemKb;
  s.hwm = Math.max(s.hwm, rss);
  return {
    pid: inc.pid,
    ppid: 1,
    uid: 1000,
    startTicks: startTicks(fleet, inc.startMs),
    comm: inst.comm,
    cmdline: `${inst.exe} --service ${inst.name}`,
    exe: inst.exe,
    cgroup: inst.cgroup,
    threads: 8,
    tier: 'cheap',
    status: {
      vmSizeKb: Math.round(anonKb * 1.5) + fileKb * 3 + 65536,
      vmRssKb: rss,
      rssAnonKb: anonKb,
      rssFileKb: fileKb,
      rssShmemKb: shmemKb,
      vmSwapKb: 0,
      vmDataKb: Math.round(anonKb * 1.1),
      vmStkKb: 132,
      vmHwmKb: s.hwm,
    },
  };
}

function uuid(rng: Rng): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng.next() * 16).toString(16));
  hex[12] = '4';
  hex[16] = ((Number.parseInt(hex[16] as string, 16) & 3) | 8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
