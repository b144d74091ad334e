import { SNAPSHOT_SCHEMA_ID } from './limits.ts';
import type { Mapping, ProcessRecord, Snapshot } from './snapshot.ts';

/**
 * A small valid snapshot (two processes, one with a full map) shaped like what an agent reads
 * from a real host; tests across the project start from it and change one thing.
 */
export function exampleSnapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    schema: SNAPSHOT_SCHEMA_ID,
    snapshotId: '0b6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a21',
    takenAtMs: Date.UTC(2026, 10, 23, 12, 0, 0),
    host: {
      name: 'web-07',
      bootId: '6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d13',
      kernel: '6.18.0-1-amd64',
      memTotalKb: 24_576_000,
      pageSizeKb: 4,
      clockTicksPerSec: 100,
      bootTimeMs: Date.UTC(2026, 5, 1, 7, 30, 0),
      labels: { env: 'prod', role: 'web' },
    },
    agent: { version: '0.1.0', collectMs: 41.5, skipped: [{ pid: 2, reason: 'kernel-thread' }] },
    processes: [exampleProcess(), exampleProcess({ pid: 4121, startTicks: 99_120, comm: 'nginx' })],
    ...overrides,
  };
}

export function exampleProcess(overrides: Partial<ProcessRecord> = {}): ProcessRecord {
  return {
    pid: 812,
    ppid: 1,
    uid: 1000,
    startTicks: 51_234,
    comm: 'java',
    cmdline: 'java -Xmx2g -jar /srv/app.jar',
    exe: '/usr/lib/jvm/bin/java',
    cgroup: '/system.slice/app.service',
    memoryLimitKb: 4_194_304,
    threads: 42,
    status: {
      vmSizeKb: 4_194_304,
      vmRssKb: 812_000,
      rssAnonKb: 700_000,
      rssFileKb: 110_000,
      rssShmemKb: 2_000,
      vmSwapKb: 0,
      vmDataKb: 2_500_000,
      vmStkKb: 132,
      vmHwmKb: 850_000,
    },
    readCostMs: 0.4,
    ...overrides,
  };
}

export function exampleMapping(overrides: Partial<Mapping> = {}): Mapping {
  return {
    start: '55d4a3c00000',
    end: '55d4a3c21000',
    perms: 'rw-p',
    offset: '00000000',
    dev: '00:00',
    inode: 0,
    path: '[heap]',
    kb: {
      Size: 132,
      KernelPageSize: 4,
      MMUPageSize: 4,
      Rss: 128,
      Pss: 128,
      Shared_Clean: 0,
      Shared_Dirty: 0,
      Private_Clean: 0,
      Private_Dirty: 128,
      Referenced: 128,
      Anonymous: 128,
      KSM: 0,
      LazyFree: 0,
      AnonHugePages: 0,
      Swap: 0,
      SwapPss: 0,
      Locked: 0,
    },
    vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'ac'],
    extra: { THPeligible: '0', ProtectionKey: '0' },
    ...overrides,
  };
}
