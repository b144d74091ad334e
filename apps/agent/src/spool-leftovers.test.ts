import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, writeFile as realWriteFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DiskSpool } from './spool.ts';

/** A disk that fills up while the lock is being written: the file is created, then ENOSPC. */
let diskFull = false;
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    writeFile: async (...args: Parameters<typeof real.writeFile>) => {
      const [path] = args;
      if (diskFull && typeof path === 'string' && path.includes('.tmp-lock-')) {
        await real.writeFile(path, '');
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), {
          code: 'ENOSPC',
        });
      }
      return real.writeFile(...args);
    },
  };
});

describe('spool leftovers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-spool-left-'));
  });
  afterEach(async () => {
    diskFull = false;
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves no temporary lock file behind when writing the lock fails (disk full)', async () => {
    diskFull = true;
    const err = await DiskSpool.open(dir, 1 << 20).catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(await readdir(dir)).toEqual([]);
  });

  it('removes a takeover guard whose holder is dead at open, and keeps a live one', async () => {
    const dead = `${JSON.stringify({ pid: 4_194_304, bootId: '', startTicks: 1 })}\n`;
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const live = `${JSON.stringify({ pid: process.ppid, bootId: '', startTicks })}\n`;
    await realWriteFile(join(dir, 'lock.takeover-0badc0de'), dead);
    await realWriteFile(join(dir, 'lock.takeover-0badc0de.takeover-12345678'), dead);
    await realWriteFile(join(dir, 'lock.takeover-00c0ffee'), live);
    const s = await DiskSpool.open(dir, 1 << 20);
    expect((await readdir(dir)).sort()).toEqual(['lock', 'lock.takeover-00c0ffee']);
    await s.close();
  });

  it('removes a temporary lock file of a gone process at open, of either form, and keeps a live one', async () => {
    const random = '0123456789abcdef0123456789abcdef';
    // pid 4194304 is never alive; the parent (the test runner) is.
    await realWriteFile(join(dir, `.tmp-lock-4194304-${random}`), '');
    await realWriteFile(join(dir, '.tmp-lock-4194304'), '');
    await realWriteFile(join(dir, `.tmp-lock-${process.ppid}-${random}`), '');
    await realWriteFile(join(dir, `.tmp-lock-${process.ppid}`), '');
    const s = await DiskSpool.open(dir, 1 << 20);
    expect((await readdir(dir)).sort()).toEqual(
      [`.tmp-lock-${process.ppid}`, `.tmp-lock-${process.ppid}-${random}`, 'lock'].sort(),
    );
    await s.close();
  });
});
