import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { exampleMapping, exampleProcess, exampleSnapshot } from '@fleetpmap/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliBin } from '../support/paths.ts';
import { oneDriver, useTestServer } from './harness.ts';

const run = promisify(execFile);

/**
 * `fleetpmap ARGS | READER`, by default a reader that starts late (`{ sleep 1; cat; }`), so the
 * output cannot go out in one write. The exit status is fleetpmap's (pipefail).
 */
async function piped(
  args: string[],
  reader = '{ sleep 1; cat; }',
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(
      'bash',
      ['-c', `set -o pipefail; "$@" | ${reader}`, 'bash', process.execPath, cliBin, ...args],
      { env: { PATH: process.env.PATH, HOME: process.env.HOME }, maxBuffer: 64 * 1024 * 1024 },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const PROCESSES = 400;
const MAPPINGS = 2000;

// A pipe takes 64 KiB at a time; everything past that used to be lost when the CLI exited.
describe('fleetpmap output into a pipe that a slow reader drains', () => {
  const t = useTestServer(oneDriver());
  const as = () => ['--server', t.url, '--token', t.adminToken];

  beforeAll(async () => {
    const base = exampleSnapshot();
    const processes = Array.from({ length: PROCESSES }, (_, i) =>
      exampleProcess({ pid: 1000 + i, startTicks: 5000 + i, comm: `worker-${i}` }),
    );
    // One process with a full map of many mappings, for --at.
    processes.push(
      exampleProcess({
        pid: 900,
        startTicks: 4000,
        mappings: Array.from({ length: MAPPINGS }, (_, i) => {
          const start = 0x7f0000000000 + i * 0x2000;
          return exampleMapping({
            start: start.toString(16),
            end: (start + 0x1000).toString(16),
            path: `/usr/lib/plugin-${i}.so`,
            inode: 1000 + i,
            dev: '08:01',
          });
        }),
      }),
    );
    await t.client(t.adminToken).snapshot.push.mutate({
      ...base,
      takenAtMs: Date.now() - 60_000,
      host: { ...base.host, name: 'big-1' },
      processes,
    });
  });

  it('ps --json arrives whole', async () => {
    const r = await piped(['ps', '--json', '--limit', '1000', ...as()]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(100 * 1024);
    const rows = JSON.parse(r.stdout) as { pid: number }[];
    expect(rows).toHaveLength(PROCESSES + 1);
  });

  it('a reader that stops early ends it quietly', async () => {
    const r = await piped(['ps', '--json', '--limit', '1000', ...as()], 'head -c 100');
    expect(r).toEqual({ code: 0, stdout: r.stdout.slice(0, 100), stderr: '' });
    expect(r.stdout).toHaveLength(100);
  });

  it('HOST:PID --at now arrives whole, as JSON and as the pmap text', async () => {
    const json = await piped(['big-1:900', '--at', 'now', '--json', ...as()]);
    expect(json.code, json.stderr).toBe(0);
    const maps = JSON.parse(json.stdout) as { mappings: unknown[] }[];
    expect(maps[0]?.mappings).toHaveLength(MAPPINGS);

    const text = await piped(['big-1:900', '--at', 'now', '-x', ...as()]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.length).toBeGreaterThan(100 * 1024);
    const lines = text.stdout.split('\n');
    expect(lines.filter((l) => /plugin-\d+\.so$/.test(l))).toHaveLength(MAPPINGS);
    expect(lines.at(-2)).toMatch(/^total kB\s/);
  });
});
