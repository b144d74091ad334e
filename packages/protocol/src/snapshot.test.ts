import { describe, expect, it, vi } from 'vitest';
import { exampleMapping, exampleProcess, exampleSnapshot } from './example.ts';
import { LIMITS, MAX_FUTURE_SKEW_MS } from './limits.ts';
import { parseSnapshot, type Snapshot } from './snapshot.ts';

// Validation of the largest allowed snapshots takes seconds on a loaded CI machine.
vi.setConfig({ testTimeout: 60_000 });

const now = Date.UTC(2026, 10, 23, 12, 0, 0);

function withFullMap(): Snapshot {
  const s = exampleSnapshot();
  const region = { count: 1, sizeKb: 132, rssKb: 128, pssKb: 128, privateDirtyKb: 128, swapKb: 0 };
  const zero = { count: 0, sizeKb: 0, rssKb: 0, pssKb: 0, privateDirtyKb: 0, swapKb: 0 };
  s.processes[0] = exampleProcess({
    rollup: {
      rssKb: 812_000,
      pssKb: 800_000,
      pssAnonKb: 700_000,
      pssFileKb: 98_000,
      pssShmemKb: 2_000,
      sharedCleanKb: 10_000,
      sharedDirtyKb: 0,
      privateCleanKb: 100_000,
      privateDirtyKb: 702_000,
      anonymousKb: 700_000,
      swapKb: 0,
      swapPssKb: 0,
      lockedKb: 0,
    },
    regions: { heap: region, stack: zero, anon: zero, file: zero, shmem: zero, special: zero },
    mappings: [
      exampleMapping(),
      exampleMapping({
        start: '7f1c2a000000',
        end: '7f1c2a021000',
        perms: 'r-xp',
        dev: 'fe:01',
        inode: 1_234_567,
        path: '/usr/lib/x86_64-linux-gnu/libc.so.6 (deleted)',
        kb: { Size: 132, Rss: 64, FutureField: 3 },
      }),
      exampleMapping({ path: 'caf\uFFFD.so', pathBase64: 'Y2Fm/y5zbw==' }),
    ],
  });
  return s;
}

function reject(s: unknown, nowMs = now) {
  const r = parseSnapshot(s, { nowMs });
  if (r.ok) throw new Error('expected the snapshot to be refused');
  return r;
}

describe('parseSnapshot', () => {
  it('accepts a cheap-tier snapshot and one with a full map, unknown kB fields included', () => {
    expect(parseSnapshot(exampleSnapshot(), { nowMs: now }).ok).toBe(true);
    const r = parseSnapshot(withFullMap(), { nowMs: now });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.snapshot.processes[0]?.mappings?.[1]?.kb.FutureField).toBe(3);
  });

  it('accepts historical snapshots and up to five minutes of clock skew, not more', () => {
    expect(
      parseSnapshot(exampleSnapshot({ takenAtMs: now - 90 * 86_400_000 }), { nowMs: now }).ok,
    ).toBe(true);
    expect(
      parseSnapshot(exampleSnapshot({ takenAtMs: now + MAX_FUTURE_SKEW_MS }), { nowMs: now }).ok,
    ).toBe(true);
    const r = reject(exampleSnapshot({ takenAtMs: now + MAX_FUTURE_SKEW_MS + 1 }));
    expect(r.path).toBe('takenAtMs');
    expect(r.message).toMatch(/future/);
  });

  it('takes the boot time as optional, up to the snapshot time', () => {
    const old = exampleSnapshot();
    delete old.host.bootTimeMs;
    expect(parseSnapshot(old, { nowMs: now }).ok).toBe(true);
    const r = parseSnapshot(exampleSnapshot(), { nowMs: now });
    expect(r.ok && r.snapshot.host.bootTimeMs).toBe(Date.UTC(2026, 5, 1, 7, 30, 0));
    const justBooted = exampleSnapshot();
    justBooted.host.bootTimeMs = justBooted.takenAtMs;
    expect(parseSnapshot(justBooted, { nowMs: now }).ok).toBe(true);
    const epoch = exampleSnapshot();
    epoch.host.bootTimeMs = 0;
    expect(parseSnapshot(epoch, { nowMs: now }).ok).toBe(true);
  });

  it.each([
    ['after takenAtMs', now + 1, /after takenAtMs/],
    ['negative', -1000, /./],
    ['fractional', now - 1000.5, /./],
    ['beyond 2^53', 2 ** 53, /./],
    ['a string', String(now - 1000), /./],
    ['null', null, /./],
  ])('refuses a boot time %s', (_name, bootTimeMs, message) => {
    const s = exampleSnapshot();
    Object.assign(s.host, { bootTimeMs });
    const r = reject(s);
    expect(r.path).toBe('host.bootTimeMs');
    expect(r.message).toMatch(message);
  });

  it('takes a process memory limit as optional, from 0 to maxKb', () => {
    const old = exampleSnapshot();
    delete old.processes[0]?.memoryLimitKb;
    expect(parseSnapshot(old, { nowMs: now }).ok).toBe(true);
    const r = parseSnapshot(exampleSnapshot(), { nowMs: now });
    expect(r.ok && r.snapshot.processes[0]?.memoryLimitKb).toBe(4_194_304);
    for (const memoryLimitKb of [0, LIMITS.maxKb]) {
      const s = exampleSnapshot({ processes: [exampleProcess({ memoryLimitKb })] });
      expect(parseSnapshot(s, { nowMs: now }).ok).toBe(true);
    }
  });

  it.each([
    ['negative', -4],
    ['fractional', 1024.5],
    ['beyond maxKb', LIMITS.maxKb + 1],
    ['the v1 no-limit value in KiB', 9_007_199_254_740_991],
    ['a string', 'max'],
    ['null', null],
  ])('refuses a memory limit %s', (_name, memoryLimitKb) => {
    const s = exampleSnapshot();
    Object.assign(s.processes[0] as object, { memoryLimitKb });
    expect(reject(s).path).toBe('processes[0].memoryLimitKb');
  });

  it('names the first bad field of a mapping', () => {
    const s = withFullMap();
    const m = s.processes[0]?.mappings?.[1];
    if (!m) throw new Error('fixture');
    m.perms = 'rwxq';
    expect(reject(s).path).toBe('processes[0].mappings[1].perms');
  });

  it.each([
    ['schema', (s: Snapshot) => Object.assign(s, { schema: 'fleetpmap.snapshot/v2' }), 'schema'],
    ['snapshotId', (s: Snapshot) => Object.assign(s, { snapshotId: 'not-a-uuid' }), 'snapshotId'],
    [
      'fractional takenAtMs',
      (s: Snapshot) => Object.assign(s, { takenAtMs: now + 0.5 }),
      'takenAtMs',
    ],
    ['epoch 0', (s: Snapshot) => Object.assign(s, { takenAtMs: 0 }), 'takenAtMs'],
    [
      'host name with colon',
      (s: Snapshot) => Object.assign(s.host, { name: 'web:07' }),
      'host.name',
    ],
    ['host name with space', (s: Snapshot) => Object.assign(s.host, { name: 'a b' }), 'host.name'],
    [
      'long host name',
      (s: Snapshot) => Object.assign(s.host, { name: 'a'.repeat(254) }),
      'host.name',
    ],
    ['bootId', (s: Snapshot) => Object.assign(s.host, { bootId: 'xyz' }), 'host.bootId'],
    [
      'zero page size',
      (s: Snapshot) => Object.assign(s.host, { pageSizeKb: 0 }),
      'host.pageSizeKb',
    ],
    ['unknown host field', (s: Snapshot) => Object.assign(s.host, { color: 'red' }), 'host'],
    [
      'too many labels',
      (s: Snapshot) =>
        Object.assign(s.host, {
          labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
        }),
      'host.labels',
    ],
    [
      'negative kB',
      (s: Snapshot) => Object.assign(s.processes[0]?.status ?? {}, { vmRssKb: -1 }),
      'processes[0].status.vmRssKb',
    ],
    [
      'string kB',
      (s: Snapshot) => Object.assign(s.processes[0]?.status ?? {}, { vmRssKb: '5' }),
      'processes[0].status.vmRssKb',
    ],
    [
      'missing status',
      (s: Snapshot) => Object.assign(s.processes[1] ?? {}, { status: undefined }),
      'processes[1].status',
    ],
    ['pid 0', (s: Snapshot) => Object.assign(s.processes[0] ?? {}, { pid: 0 }), 'processes[0].pid'],
    [
      'pid over PID_MAX_LIMIT',
      (s: Snapshot) => Object.assign(s.processes[0] ?? {}, { pid: LIMITS.maxPid + 1 }),
      'processes[0].pid',
    ],
    [
      'duplicate pid',
      (s: Snapshot) => Object.assign(s.processes[1] ?? {}, { pid: 812 }),
      'processes[1].pid',
    ],
    [
      'long cmdline',
      (s: Snapshot) =>
        Object.assign(s.processes[0] ?? {}, { cmdline: 'x'.repeat(LIMITS.cmdlineChars + 1) }),
      'processes[0].cmdline',
    ],
    [
      'error code',
      (s: Snapshot) =>
        Object.assign(s.processes[0] ?? {}, { error: { code: 'eacces', message: '' } }),
      'processes[0].error.code',
    ],
  ])('refuses %s', (_name, mutate, path) => {
    const s = exampleSnapshot();
    mutate(s);
    expect(reject(s).path).toBe(path);
  });

  it.each([
    ['start with 0x', { start: '0x55d4a3c00000' }, 'start'],
    ['upper-case hex', { end: '55D4A3C21000' }, 'end'],
    ['dev without colon', { dev: 'fe01' }, 'dev'],
    ['inode beyond 2^53', { inode: 2 ** 60 }, 'inode'],
    ['kB field name with a space', { kb: { 'Private Dirty': 1 } }, 'kb'],
    ['fractional kB', { kb: { Rss: 1.5 } }, 'kb.Rss'],
    ['three-letter flag', { vmFlags: ['rdx'] }, 'vmFlags[0]'],
    ['not base64', { pathBase64: '@@@' }, 'pathBase64'],
    ['path too long', { path: `/${'a'.repeat(LIMITS.pathChars)}` }, 'path'],
  ])('refuses a mapping with %s', (_name, patch, field) => {
    const s = withFullMap();
    const mappings = s.processes[0]?.mappings;
    if (!mappings) throw new Error('fixture');
    mappings[0] = { ...exampleMapping(), ...patch } as never;
    const r = reject(s);
    expect(r.path.startsWith(`processes[0].mappings[0].${field}`)).toBe(true);
  });

  it('refuses a snapshot whose mappings exceed the per-snapshot limit, asking to split it', () => {
    const s = exampleSnapshot();
    const many = Array.from({ length: LIMITS.mappingsPerSnapshot / 2 + 1 }, () => exampleMapping());
    s.processes = [exampleProcess({ mappings: many }), exampleProcess({ pid: 9, mappings: many })];
    const r = reject(s);
    expect(r.path).toBe('processes');
    expect(r.message).toMatch(/split/);
  });

  it('refuses non-objects and deep garbage without throwing', () => {
    for (const input of [null, 42, 'x', [], { schema: 'fleetpmap.snapshot/v1' }]) {
      expect(parseSnapshot(input, { nowMs: now }).ok).toBe(false);
    }
    let deep: unknown = {};
    for (let i = 0; i < 10_000; i++) deep = { host: deep };
    expect(parseSnapshot(deep, { nowMs: now }).ok).toBe(false);
  });
});
