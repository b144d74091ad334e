import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { exampleSnapshot } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/fleetpmap.js', import.meta.url));
const execFileAsync = promisify(execFile);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileAsync(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent' },
      timeout: 30_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('fleetpmap import FILE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-import-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says that a directory is not a file to import, as for any bad argument', async () => {
    const r = await run(['import', dir, '--server', 'http://127.0.0.1:4680', '--token', 't']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: `fleetpmap: cannot read ${dir}: it is a directory, not an NDJSON file\n`,
    });
  });

  it('stops at the first request the server does not answer instead of retrying every line', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const file = join(dir, 'snapshots.ndjson');
    const lines = Array.from({ length: 20 }, (_, i) =>
      JSON.stringify(
        exampleSnapshot({
          snapshotId: `0b6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a${String(i).padStart(2, '0')}`,
          takenAtMs: Date.now() - i * 60_000,
        }),
      ),
    );
    await writeFile(file, `${lines.join('\n')}\n`);
    try {
      const r = await run(['import', file, '--server', url, '--token', 't', '--timeout', '0.5']);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `fleetpmap: the server at ${url} did not answer within 0.5 s` +
          ' (--timeout SECONDS or FLEETPMAP_TIMEOUT waits longer)\n',
      );
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
