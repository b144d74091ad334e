import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCgroup, readCgroup } from './cgroup.ts';
import {
  MemoryLimitReader,
  memoryCgroupOf,
  parseMemoryCgroupMounts,
  readMemoryCgroupLayout,
  readMemoryLimitKb,
} from './cgroup-limit.ts';
import { ProcfsParseError } from './errors.ts';
import { thrown } from './test-support.ts';

const trees: string[] = [];
afterAll(() => {
  for (const t of trees) rmSync(t, { recursive: true, force: true });
});

/** A proc + sys tree: `files` maps paths below the tree to contents (a trailing `/` = a directory). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'fleetpmap-cgroup-'));
  trees.push(root);
  for (const [path, text] of Object.entries(files)) {
    const full = join(root, path);
    if (path.endsWith('/')) {
      mkdirSync(full, { recursive: true });
      continue;
    }
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}

const GiB = 1024 ** 3;
const V1_NONE = '9223372036854771712\n';
const V2_MOUNT =
  '30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
/** The memory hierarchy of a v1 host as a container without a cgroup namespace sees it. */
const V1_CONTAINER_MOUNTS = [
  '1185 1180 0:81 / / rw,relatime master:312 - overlay overlay rw,lowerdir=/x',
  '1190 1189 0:29 /docker/abc /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
  '1194 1189 0:33 /docker/abc /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory',
  '1199 1189 0:38 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw',
  '',
].join('\n');

const limitOf = (root: string, cgroupText: string) =>
  readMemoryLimitKb(parseCgroup(cgroupText, 'cgroup'), {
    procRoot: join(root, 'proc'),
    sysRoot: join(root, 'sys'),
  });

describe('parseMemoryCgroupMounts', () => {
  it('finds the v1 memory hierarchy and the unified one, with the root each mount shows', () => {
    expect(parseMemoryCgroupMounts(V1_CONTAINER_MOUNTS, 'mountinfo', '/t/sys')).toEqual({
      v1: { dir: '/t/sys/fs/cgroup/memory', root: '/docker/abc' },
      v2: { dir: '/t/sys/fs/cgroup/unified', root: '/' },
    });
    expect(parseMemoryCgroupMounts(V2_MOUNT, 'mountinfo')).toEqual({
      v1: null,
      v2: { dir: '/sys/fs/cgroup', root: '/' },
    });
  });

  it('undoes the octal escapes of mount points and leaves mounts outside /sys where they are', () => {
    const text = '40 31 0:37 /a\\040b /cg\\040root rw - cgroup cgroup rw,memory\n';
    expect(parseMemoryCgroupMounts(text, 'mountinfo', '/t/sys').v1).toEqual({
      dir: '/cg root',
      root: '/a b',
    });
  });

  it('refuses a line without the separator', () => {
    expect(thrown(() => parseMemoryCgroupMounts('1 2 3:4 / /x rw\n', 'mountinfo'))).toBeInstanceOf(
      ProcfsParseError,
    );
  });
});

describe('memory limits from a cgroup v2 tree', () => {
  const root = tree({
    'proc/self/mountinfo': V2_MOUNT,
    'sys/fs/cgroup/cgroup.controllers': 'cpu memory pids\n',
    'sys/fs/cgroup/system.slice/memory.max': `${4 * GiB}\n`,
    'sys/fs/cgroup/system.slice/app.service/memory.max': `${8 * GiB}\n`,
    'sys/fs/cgroup/system.slice/db.service/memory.max': `${GiB}\n`,
    'sys/fs/cgroup/user.slice/memory.max': 'max\n',
    'sys/fs/cgroup/user.slice/user-1000.slice/memory.max': 'max\n',
    // The memory controller not enabled below this level: no memory.max in the leaf.
    'sys/fs/cgroup/system.slice/plain.service/': '',
    'sys/fs/cgroup/broken.slice/memory.max': 'lots\n',
  });

  it('takes the tightest limit over the cgroup and its ancestors', () => {
    expect(limitOf(root, '0::/system.slice/db.service\n')).toBe(GiB / 1024);
    // MemoryMax=8G under a slice of 4G: the slice's 4G is what the kernel enforces.
    expect(limitOf(root, '0::/system.slice/app.service\n')).toBe((4 * GiB) / 1024);
    expect(limitOf(root, '0::/system.slice/plain.service\n')).toBe((4 * GiB) / 1024);
  });

  it('says none when every level prints max, unknown when the cgroup is not there', () => {
    expect(limitOf(root, '0::/user.slice/user-1000.slice\n')).toBe('none');
    expect(limitOf(root, '0::/\n')).toBe('none');
    expect(limitOf(root, '0::/gone.service\n')).toBe('unknown');
    expect(limitOf(root, '0::/broken.slice\n')).toBe('unknown');
    expect(limitOf(root, '0::/../../etc\n')).toBe('unknown');
    // Only v1 lines, none with the memory controller, and no v1 mount: nothing to look at.
    expect(limitOf(root, '1:cpu:/\n')).toBe('unknown');
  });

  it('reads each directory once per reader', () => {
    const layout = readMemoryCgroupLayout({
      procRoot: join(root, 'proc'),
      sysRoot: join(root, 'sys'),
    });
    const reader = new MemoryLimitReader();
    for (const leaf of ['app.service', 'db.service', 'plain.service', 'db.service']) {
      reader.limitKb(memoryCgroupOf(parseCgroup(`0::/system.slice/${leaf}\n`, 'cg'), layout));
    }
    // Three leaves, their slice and the root (which has no memory.max).
    expect(reader.reads).toBe(5);
  });
});

describe('memory limits from a cgroup v1 tree', () => {
  const root = tree({
    'proc/self/mountinfo': V1_CONTAINER_MOUNTS,
    // The container's own cgroup is the mount's root: its files are the mount's own.
    'sys/fs/cgroup/memory/memory.limit_in_bytes': `${2 * GiB}\n`,
    'sys/fs/cgroup/memory/worker/memory.limit_in_bytes': V1_NONE,
    'sys/fs/cgroup/memory/small/memory.limit_in_bytes': `${512 * 1024 ** 2}\n`,
    'sys/fs/cgroup/unified/cgroup.procs': '',
  });

  it('maps the path of /proc/PID/cgroup onto the mount and takes the tightest limit', () => {
    const hybrid = (path: string) => `5:cpu,cpuacct:/docker/abc\n4:memory:${path}\n0::/\n`;
    expect(limitOf(root, hybrid('/docker/abc'))).toBe((2 * GiB) / 1024);
    expect(limitOf(root, hybrid('/docker/abc/worker'))).toBe((2 * GiB) / 1024);
    expect(limitOf(root, hybrid('/docker/abc/small'))).toBe(512 * 1024);
  });

  it('says unknown for a cgroup outside what the mount shows or missing under it', () => {
    expect(limitOf(root, '4:memory:/docker/other\n0::/\n')).toBe('unknown');
    expect(limitOf(root, '4:memory:/docker/abcd\n0::/\n')).toBe('unknown');
    expect(limitOf(root, '4:memory:/docker/abc/gone\n0::/\n')).toBe('unknown');
  });

  it('takes 2^62 bytes and more as no limit', () => {
    const host = tree({
      'proc/self/mountinfo': '35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n',
      'sys/fs/cgroup/memory/memory.limit_in_bytes': V1_NONE,
      'sys/fs/cgroup/memory/a/memory.limit_in_bytes': `${2n ** 62n}\n`,
      'sys/fs/cgroup/memory/b/memory.limit_in_bytes': `${2n ** 62n - 4096n}\n`,
    });
    expect(limitOf(host, '4:memory:/a\n')).toBe('none');
    expect(limitOf(host, '4:memory:/b\n')).toBe(Number((2n ** 62n - 4096n) / 1024n));
  });

  it('says unknown when the memory controller is on v1 but not mounted', () => {
    const noV1 = tree({ 'proc/self/mountinfo': V2_MOUNT, 'sys/fs/cgroup/a/memory.max': '1024\n' });
    expect(limitOf(noV1, '4:memory:/a\n0::/a\n')).toBe('unknown');
    expect(limitOf(noV1, '0::/a\n')).toBe(1);
  });
});

describe('the memory limit of this test process', () => {
  it('is read from the real /sys as its own cgroup files say', async () => {
    const cg = await readCgroup('self');
    const layout = readMemoryCgroupLayout();
    const mine = memoryCgroupOf(cg, layout);
    const limit = new MemoryLimitReader().limitKb(mine);
    if (mine === null || !existsSync(mine.dir)) {
      expect(limit).toBe('unknown');
      return;
    }
    expect(limit).not.toBe('unknown');
    // The own level alone bounds the effective limit from above.
    const ownFile = join(mine.dir, mine.file);
    const own = existsSync(ownFile) ? readFileSync(ownFile, 'latin1').trim() : 'max';
    const ownBytes = own === 'max' ? null : BigInt(own);
    if (ownBytes !== null && ownBytes < 2n ** 62n) {
      expect(typeof limit).toBe('number');
      expect(limit).toBeLessThanOrEqual(Number(ownBytes / 1024n));
    }
  });
});
