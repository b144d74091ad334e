import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DiskSpool, SpoolBusyError } from './spool.ts';

/**
 * Two agents with the same pid in pid namespaces of their own (two containers, each pid 1) are
 * two lock attempts of this process, each told another namespace. Their temporary lock files are
 * recorded, and neither is linked into place before both are written: the instant at which a
 * shared name would have one agent's lock overwrite the other's.
 */
const namespaces: string[] = [];
const temporary: string[] = [];
let bothWritten: () => void = () => {};
let written = Promise.resolve();

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    readlinkSync: ((path: string, ...rest: []) =>
      path === '/proc/self/ns/pid' && namespaces.length > 0
        ? namespaces.shift()
        : real.readlinkSync(path, ...rest)) as typeof real.readlinkSync,
  };
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    writeFile: async (...args: Parameters<typeof real.writeFile>) => {
      await real.writeFile(...args);
      const [path] = args;
      if (typeof path === 'string' && path.includes('.tmp-lock-')) {
        temporary.push(path);
        if (temporary.length === 2) bothWritten();
      }
    },
    link: async (existing: string, target: string) => {
      if (existing.includes('.tmp-lock-')) await written;
      return real.link(existing, target);
    },
  };
});

describe('the temporary lock file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-spool-tmp-lock-'));
    temporary.length = 0;
    written = new Promise((r) => {
      bothWritten = r;
    });
  });
  afterEach(async () => {
    namespaces.length = 0;
    written = Promise.resolve();
    await rm(dir, { recursive: true, force: true });
  });

  it('is not shared by agents of the same pid in other pid namespaces: exactly one gets the lock', async () => {
    namespaces.push('pid:[4026530001]', 'pid:[4026530002]');
    // The loser waits for the winner's heartbeat to stop, which it never does while it runs.
    const lock = { heartbeatMs: 20, staleMs: 300 };
    const results = await Promise.allSettled([
      DiskSpool.open(dir, 1 << 20, lock),
      DiskSpool.open(dir, 1 << 20, lock),
    ]);
    expect(temporary).toHaveLength(2);
    expect(new Set(temporary).size).toBe(2);
    for (const t of temporary) expect(t).toContain(`.tmp-lock-${process.pid}-`);

    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const winner = JSON.parse(await readFile(join(dir, 'lock'), 'utf8'));
    expect(lost[0]).toBeInstanceOf(SpoolBusyError);
    expect(lost[0]).toMatchObject({
      pid: process.pid,
      elsewhere: `pid namespace ${winner.pidNs} on this host`,
      heartbeat: { staleMs: 300, waited: true },
    });
    expect(await readdir(dir)).toEqual(['lock']);
    // The lock in place is the winner's own: it removes it as its own when it lets go.
    await won[0]?.close();
    expect(await readdir(dir)).toEqual([]);
  });
});
