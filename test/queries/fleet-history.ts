import { randomUUID } from 'node:crypto';
import {
  exampleMapping,
  exampleProcess,
  exampleSnapshot,
  type Mapping,
  type ProcessRecord,
  type Snapshot,
} from '@fleetpmap/protocol';

export const HOUR_MS = 3_600_000;
export const SAMPLE_MS = 3 * 60_000;

/**
 * A small fleet with a known truth: `leaky` grows 4 %/h on web-1 and web-2 and is flat on web-3
 * and db-1; `steady` is flat (±1 % noise) everywhere. One full map of web-1's leaky is stored at
 * the start and one at the end: its heap grew, an arena appeared, a library went away.
 */
export const HOSTS = [
  { name: 'web-1', labels: { env: 'prod' }, leaks: true },
  { name: 'web-2', labels: { env: 'prod' }, leaks: true },
  { name: 'web-3', labels: { env: 'prod' }, leaks: false },
  { name: 'db-1', labels: { env: 'staging' }, leaks: false },
] as const;

export const LEAKY = { pid: 100, startTicks: 1000, exe: '/usr/bin/leaky', comm: 'leaky' };
export const STEADY = { pid: 200, startTicks: 2000, exe: '/usr/bin/steady', comm: 'steady' };

/** Deterministic noise in [-1, 1). */
export function noise(seed: number): number {
  const x = Math.sin(seed * 12.9898 + 78.233) * 43758.5453;
  return 2 * (x - Math.floor(x)) - 1;
}

function status(anonKb: number, fileKb: number, swapKb = 0): ProcessRecord['status'] {
  return {
    vmSizeKb: anonKb * 3,
    vmRssKb: anonKb + fileKb,
    rssAnonKb: anonKb,
    rssFileKb: fileKb,
    rssShmemKb: 0,
    vmSwapKb: swapKb,
    vmDataKb: anonKb * 2,
    vmStkKb: 132,
    vmHwmKb: anonKb + fileKb,
  };
}

export function leakyMappings(heapKb: number, late: boolean): Mapping[] {
  const lib = exampleMapping({
    start: '7f0000000000',
    end: '7f0000040000',
    perms: 'r-xp',
    dev: 'fe:01',
    inode: 1234,
    path: '/usr/lib/libold.so',
    kb: { ...exampleMapping().kb, Size: 256, Rss: 200, Pss: 200, Anonymous: 0, Private_Dirty: 0 },
  });
  const arena = exampleMapping({
    start: '7f1000000000',
    end: '7f1004000000',
    path: '',
    kb: { ...exampleMapping().kb, Size: 65536, Rss: 30_000, Pss: 30_000, Anonymous: 30_000 },
  });
  const heapHex = (0x55d4a3c00000 + heapKb * 1024).toString(16);
  const heap = exampleMapping({
    end: heapHex,
    kb: {
      ...exampleMapping().kb,
      Size: heapKb,
      Rss: heapKb,
      Pss: heapKb,
      Private_Dirty: heapKb,
      Anonymous: heapKb,
    },
  });
  return late ? [heap, arena] : [heap, lib];
}

/** Every snapshot of the fleet over `hours` ending at `endMs`, oldest first per host. */
export function fleetSnapshots(endMs: number, hours: number): Snapshot[] {
  const base = exampleSnapshot();
  const out: Snapshot[] = [];
  const steps = Math.round((hours * HOUR_MS) / SAMPLE_MS);
  HOSTS.forEach((h, hi) => {
    for (let i = 0; i < steps; i++) {
      const t = endMs - (steps - 1 - i) * SAMPLE_MS;
      const hoursIn = (i * SAMPLE_MS) / HOUR_MS;
      const leakyAnon = Math.round(
        200_000 * (h.leaks ? 1 + 0.04 * hoursIn : 1) * (1 + 0.003 * noise(hi * 1e4 + i)),
      );
      const steadyAnon = Math.round(300_000 * (1 + 0.01 * noise(hi * 1e4 + i + 5e3)));
      const last = i === steps - 1;
      const fullMap = h.name === 'web-1' && (i === 0 || last);
      const leaky = exampleProcess({
        ...LEAKY,
        cmdline: '/usr/bin/leaky --serve',
        cgroup: '/system.slice/leaky.service',
        status: status(leakyAnon, 20_000),
        ...(last
          ? {
              rollup: rollup(leakyAnon + 20_000, leakyAnon + 5_000, leakyAnon + 1_000),
              regions: regions(leakyAnon - 50_000),
            }
          : {}),
        ...(fullMap ? { mappings: leakyMappings(i === 0 ? 40_000 : 90_000, last) } : {}),
      });
      const steady = exampleProcess({
        ...STEADY,
        cmdline: '/usr/bin/steady',
        cgroup: '/system.slice/steady.service',
        // steady is larger in RSS (file pages), smaller in anon, and the only one swapping.
        status: status(steadyAnon, 600_000, 1_000 + hi),
        ...(last
          ? {
              rollup: rollup(steadyAnon + 600_000, steadyAnon + 100_000, steadyAnon),
              regions: regions(1_000),
            }
          : {}),
      });
      out.push({
        ...base,
        snapshotId: randomUUID(),
        takenAtMs: t,
        host: {
          ...base.host,
          name: h.name,
          labels: { ...h.labels },
          bootId: `6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d1${hi}`,
        },
        processes: [leaky, steady],
      });
    }
  });
  return out;
}

function rollup(
  rssKb: number,
  pssKb: number,
  privateKb: number,
): NonNullable<ProcessRecord['rollup']> {
  return {
    rssKb,
    pssKb,
    pssAnonKb: privateKb,
    pssFileKb: pssKb - privateKb,
    pssShmemKb: 0,
    sharedCleanKb: rssKb - privateKb,
    sharedDirtyKb: 0,
    privateCleanKb: 0,
    privateDirtyKb: privateKb,
    anonymousKb: privateKb,
    swapKb: 0,
    swapPssKb: 0,
    lockedKb: 0,
  };
}

function regions(heapKb: number): NonNullable<ProcessRecord['regions']> {
  const zero = { count: 0, sizeKb: 0, rssKb: 0, pssKb: 0, privateDirtyKb: 0, swapKb: 0 };
  return {
    heap: {
      count: 1,
      sizeKb: heapKb,
      rssKb: heapKb,
      pssKb: heapKb,
      privateDirtyKb: heapKb,
      swapKb: 0,
    },
    stack: { ...zero },
    anon: { ...zero },
    file: { ...zero },
    shmem: { ...zero },
    special: { ...zero },
  };
}

/**
 * A host reported late (a backfill): three hours, ending at `endMs`, of two concurrent workers of
 * one command, pid 300 growing 5 %/h and pid 301 flat.
 */
export function backfilledWorkers(endMs: number): Snapshot[] {
  const base = exampleSnapshot();
  const steps = (3 * HOUR_MS) / SAMPLE_MS;
  const worker = (pid: number, anonKb: number) =>
    exampleProcess({
      pid,
      startTicks: 5000 + pid,
      comm: 'worker',
      cmdline: 'worker --pool',
      exe: '/usr/bin/worker',
      status: { ...exampleProcess().status, rssAnonKb: anonKb, vmRssKb: anonKb + 10_000 },
    });
  return Array.from({ length: steps }, (_, i) => ({
    ...base,
    snapshotId: randomUUID(),
    takenAtMs: endMs - (steps - 1 - i) * SAMPLE_MS,
    host: { ...base.host, name: 'late-1', bootId: '6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d99' },
    processes: [
      worker(300, Math.round(100_000 * (1 + (0.05 * i * SAMPLE_MS) / HOUR_MS) + (i % 3) * 100)),
      worker(301, 100_000 + (i % 3) * 100),
    ],
  }));
}
