import { randomUUID } from 'node:crypto';
import {
  type Mapping,
  type ProcessRecord,
  SNAPSHOT_SCHEMA_ID,
  type Snapshot,
} from '@fleetpmap/protocol';

/** A small deterministic PRNG (mulberry32) so runs are comparable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type SimProcess = {
  pid: number;
  ppid: number;
  uid: number;
  startTicks: number;
  comm: string;
  cmdline: string;
  exe: string;
  cgroup: string;
  threads: number;
  rssAnonKb: number;
  rssFileKb: number;
  rssShmemKb: number;
  vmSizeKb: number;
  /** KiB per snapshot; most processes are flat, a few leak */
  growthKb: number;
  mappings: Mapping[];
};

export type SimHost = {
  name: string;
  bootId: string;
  labels: Record<string, string>;
  processes: SimProcess[];
  cycle: number;
};

const COMMANDS = [
  [
    'java',
    'java -Xmx4g -jar /srv/orders/orders.jar --spring.profiles.active=prod',
    '/usr/lib/jvm/java-21/bin/java',
  ],
  ['postgres', 'postgres: 15/main: checkpointer', '/usr/lib/postgresql/15/bin/postgres'],
  ['nginx', 'nginx: worker process', '/usr/sbin/nginx'],
  ['node', 'node /srv/api/dist/server.js', '/usr/bin/node'],
  ['python3', 'python3 -m gunicorn app:app -w 4 -b 0.0.0.0:8000', '/usr/bin/python3.11'],
  ['systemd-journal', '/lib/systemd/systemd-journald', '/lib/systemd/systemd-journald'],
  ['sshd', 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups', '/usr/sbin/sshd'],
  [
    'containerd-shim',
    '/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id 3f9a1c',
    '/usr/bin/containerd-shim-runc-v2',
  ],
  ['kworker/u8:2', '', ''],
  ['redis-server', 'redis-server 127.0.0.1:6379', '/usr/bin/redis-server'],
] as const;

function mapsFor(rand: () => number, count: number, heapKb: number): Mapping[] {
  const out: Mapping[] = [];
  let addr = 0x55d4a3c00000;
  for (let i = 0; i < count; i++) {
    const isHeap = i === 3;
    const sizeKb = isHeap ? heapKb : 4 * (1 + Math.floor(rand() * 512));
    const rssKb = Math.min(sizeKb, 4 * Math.floor((rand() * sizeKb) / 4));
    const file = !isHeap && i % 3 !== 0;
    out.push({
      start: addr.toString(16),
      end: (addr + sizeKb * 1024).toString(16),
      perms: file ? (i % 2 ? 'r-xp' : 'r--p') : 'rw-p',
      offset: file ? (i * 4096).toString(16).padStart(8, '0') : '00000000',
      dev: file ? 'fe:01' : '00:00',
      inode: file ? 1_000_000 + i : 0,
      path: isHeap ? '[heap]' : file ? `/usr/lib/x86_64-linux-gnu/lib${i % 40}.so.6` : '',
      kb: {
        Size: sizeKb,
        KernelPageSize: 4,
        MMUPageSize: 4,
        Rss: rssKb,
        Pss: rssKb,
        Pss_Dirty: file ? 0 : rssKb,
        Shared_Clean: 0,
        Shared_Dirty: 0,
        Private_Clean: file ? rssKb : 0,
        Private_Dirty: file ? 0 : rssKb,
        Referenced: rssKb,
        Anonymous: file ? 0 : rssKb,
        KSM: 0,
        LazyFree: 0,
        AnonHugePages: 0,
        ShmemPmdMapped: 0,
        FilePmdMapped: 0,
        Shared_Hugetlb: 0,
        Private_Hugetlb: 0,
        Swap: 0,
        SwapPss: 0,
        Locked: 0,
      },
      vmFlags: file
        ? ['rd', 'ex', 'mr', 'mw', 'me', 'sd']
        : ['rd', 'wr', 'mr', 'mw', 'me', 'ac', 'sd'],
      extra: { THPeligible: '0', ProtectionKey: '0' },
    });
    addr += sizeKb * 1024 + 4096 * (1 + Math.floor(rand() * 16));
  }
  return out;
}

export function createSimulatedHost(
  index: number,
  opts: { processes: number; mappingsPerFullMap: number; seed?: number },
): SimHost {
  const rand = prng((opts.seed ?? 1) * 7919 + index);
  const processes: SimProcess[] = [];
  for (let i = 0; i < opts.processes; i++) {
    const [comm, cmdline, exe] = COMMANDS[i % COMMANDS.length] ?? COMMANDS[0];
    const rssAnonKb = 4 * Math.floor(rand() * 200_000);
    processes.push({
      pid: 100 + i * 7,
      ppid: 1,
      uid: i % 4 === 0 ? 0 : 1000 + (i % 3),
      startTicks: 1000 + i * 13,
      comm,
      cmdline,
      exe,
      cgroup: `/system.slice/${comm.replace(/\W/g, '-')}.service`,
      threads: 1 + Math.floor(rand() * 64),
      rssAnonKb,
      rssFileKb: 4 * Math.floor(rand() * 50_000),
      rssShmemKb: 4 * Math.floor(rand() * 1000),
      vmSizeKb: rssAnonKb * 3 + 100_000,
      growthKb: i % 25 === 0 ? 4 * (1 + Math.floor(rand() * 64)) : 0,
      mappings: mapsFor(rand, opts.mappingsPerFullMap, 132 + 4 * Math.floor(rand() * 1000)),
    });
  }
  const bootId = [8, 4, 4, 4, 12]
    .map((n) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join(''))
    .join('-')
    .replace(/^(.{14})./, '$14');
  return {
    name: `sim-${String(index).padStart(4, '0')}`,
    bootId,
    labels: { env: index % 5 === 0 ? 'staging' : 'prod', rack: `r${index % 12}` },
    processes,
    cycle: 0,
  };
}

/**
 * The host's next snapshot: every process with its cheap-tier status, a rollup for some, and a
 * full map for `fullMaps` processes (the same ones each cycle, so the maps are stable apart from
 * a growing heap: what the server's map deduplication is for).
 */
export function nextSnapshot(
  host: SimHost,
  takenAtMs: number,
  opts: { fullMaps: number; rollupEvery: number },
): Snapshot {
  host.cycle++;
  const records: ProcessRecord[] = host.processes.map((p, i) => {
    p.rssAnonKb += p.growthKb;
    const vmRssKb = p.rssAnonKb + p.rssFileKb + p.rssShmemKb;
    const record: ProcessRecord = {
      pid: p.pid,
      ppid: p.ppid,
      uid: p.uid,
      startTicks: p.startTicks,
      comm: p.comm,
      cmdline: p.cmdline,
      ...(p.exe ? { exe: p.exe } : {}),
      cgroup: p.cgroup,
      // Every third service has MemoryMax=2G, as agents report cgroup limits.
      ...(i % 3 === 0 ? { memoryLimitKb: 2 * 1024 * 1024 } : {}),
      threads: p.threads,
      status: {
        vmSizeKb: p.vmSizeKb + p.growthKb * host.cycle,
        vmRssKb,
        rssAnonKb: p.rssAnonKb,
        rssFileKb: p.rssFileKb,
        rssShmemKb: p.rssShmemKb,
        vmSwapKb: 0,
        vmDataKb: p.rssAnonKb * 2,
        vmStkKb: 132,
        vmHwmKb: vmRssKb + 1024,
      },
      readCostMs: 0.05,
    };
    if ((i + host.cycle) % opts.rollupEvery === 0) {
      record.rollup = {
        rssKb: vmRssKb,
        pssKb: vmRssKb - (p.rssFileKb >> 1),
        pssAnonKb: p.rssAnonKb,
        pssFileKb: p.rssFileKb >> 1,
        pssShmemKb: p.rssShmemKb,
        sharedCleanKb: p.rssFileKb >> 1,
        sharedDirtyKb: 0,
        privateCleanKb: p.rssFileKb >> 1,
        privateDirtyKb: p.rssAnonKb,
        anonymousKb: p.rssAnonKb,
        swapKb: 0,
        swapPssKb: 0,
        lockedKb: 0,
      };
    }
    if (i < opts.fullMaps) {
      const heap = p.mappings[3];
      if (heap && p.growthKb > 0) {
        const size = (heap.kb.Size ?? 0) + p.growthKb;
        heap.kb = { ...heap.kb, Size: size, Rss: size, Pss: size, Private_Dirty: size };
        heap.end = (Number.parseInt(heap.start, 16) + size * 1024).toString(16);
      }
      record.mappings = p.mappings;
    }
    return record;
  });
  return {
    schema: SNAPSHOT_SCHEMA_ID,
    snapshotId: randomUUID(),
    takenAtMs,
    host: {
      name: host.name,
      bootId: host.bootId,
      kernel: '6.18.0-1-amd64',
      memTotalKb: 24_576_000,
      pageSizeKb: 4,
      clockTicksPerSec: 100,
      labels: host.labels,
    },
    agent: { version: '0.1.0', collectMs: 35 },
    processes: records,
  };
}
