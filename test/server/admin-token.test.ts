import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { serverBin } from '../support/paths.ts';
import { startServerProcess } from '../support/server-process.ts';
import { createClient, createPostgresDatabase, postgresAdminUrl } from './harness.ts';

const adminUrl = postgresAdminUrl('the admin token tests of server replicas');
const run = promisify(execFile);

describe.skipIf(!adminUrl)('admin tokens of server replicas on one Postgres', () => {
  const cleanups: (() => PromiseLike<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const dataDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-replica-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  it('makes the first admin token once, not one more per replica or restart, and makes more on request', {
    timeout: 120_000,
  }, async () => {
    const database = await createPostgresDatabase(adminUrl as string);
    cleanups.push(() => database[Symbol.asyncDispose]());
    // Three replicas start together on a fresh database, each with an empty data directory.
    const dirs = await Promise.all([dataDir(), dataDir(), dataDir()]);
    const replicas = await Promise.all(
      dirs.map((dir) =>
        startServerProcess([
          '--listen',
          '127.0.0.1:0',
          '--database',
          database.url,
          '--data-dir',
          dir,
        ]),
      ),
    );
    for (const r of replicas) {
      cleanups.push(async () => {
        if (r.child.exitCode !== null) return;
        r.child.kill('SIGKILL');
        await once(r.child, 'exit');
      });
    }
    const files = await Promise.all(
      dirs.map((dir) => readFile(join(dir, 'admin-token'), 'utf8').catch(() => null)),
    );
    const written = files.filter((f): f is string => f !== null);
    expect(written).toHaveLength(1);
    const firstAdmin = (written[0] as string).trim();
    // The replicas without one say where to get one (on the line after the one that says they listen).
    for (
      let i = 0;
      i < 100 && !replicas.every((r) => r.output.stdout.includes('admin token'));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const told = replicas.filter((r) =>
      r.output.stdout.includes(
        'the database has admin tokens already; make another with `fleetpmap-server admin-token`',
      ),
    );
    expect(told).toHaveLength(2);

    // An operator with the database's credentials makes another, which works on every replica.
    const { stdout } = await run(process.execPath, [
      serverBin,
      'admin-token',
      '--database',
      database.url,
      '--label',
      'oncall',
    ]);
    const second = stdout.trim();
    expect(second).toMatch(/^fpm_[A-Za-z0-9_-]{43}$/);
    const tokens = await createClient(
      (replicas[2] as { url: string }).url,
      second,
    ).token.list.query();
    expect(tokens.map((t) => [t.role, t.label])).toEqual([
      ['admin', 'created at first start'],
      ['admin', 'oncall'],
    ]);
    expect(tokens.map((t) => t.revokedAtMs)).toEqual([null, null]);
    await createClient((replicas[0] as { url: string }).url, firstAdmin).host.list.query();
  });

  it('refuses to open embedded PGlite behind a running server’s back', async () => {
    const dir = await dataDir();
    const failed = await run(process.execPath, [serverBin, 'admin-token', '--data-dir', dir]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(`the admin token is in ${join(dir, 'admin-token')}`);
  });
});

describe('the admin token of a server on embedded PGlite', () => {
  it('is made again when its file was deleted, the database being in the same directory', {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-pglite-admin-'));
    try {
      const start = () => startServerProcess(['--listen', '127.0.0.1:0', '--data-dir', dir]);
      const stop = async (s: Awaited<ReturnType<typeof start>>) => {
        s.child.kill('SIGTERM');
        await once(s.child, 'exit');
      };
      const first = await start();
      const firstToken = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
      await stop(first);
      await unlink(join(dir, 'admin-token'));
      const second = await start();
      try {
        for (let i = 0; i < 100 && !second.output.stdout.includes('admin token'); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(second.output.stdout).toMatch(/admin token created and saved to/);
        const secondToken = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
        expect(secondToken).not.toBe(firstToken);
        const tokens = await createClient(second.url, secondToken).token.list.query();
        expect(tokens.filter((t) => t.role === 'admin')).toHaveLength(2);
      } finally {
        await stop(second);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
