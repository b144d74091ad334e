import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/fleetpmap-server.js', import.meta.url));

describe('fleetpmap-server at start', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-server-main-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('warns of a FLEETPMAP_ variable no fleetpmap program reads, naming the closest, and starts', async () => {
    const child = spawn(process.execPath, [bin], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        FLEETPMAP_DATA_DIR: dir,
        FLEETPMAP_LISTEN: '127.0.0.1:0',
        FLEETPMAP_LOG_LEVEL: 'warn',
        FLEETPMAP_RETENTION_SAMPLES_DAY: '3',
        // The CLI's, in an operator's shell: known, so no warning.
        FLEETPMAP_TOKEN_FILE: join(dir, 'admin-token'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = once(child, 'exit');
    const deadline = Date.now() + 60_000;
    while (!stdout.includes('listening on') && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGTERM');
    await exited;
    expect(stdout, stderr).toContain('fleetpmap-server listening on');
    const warnings = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.level === 40 && 'variable' in l);
    expect(warnings).toEqual([
      expect.objectContaining({
        variable: 'FLEETPMAP_RETENTION_SAMPLES_DAY',
        closest: 'FLEETPMAP_RETENTION_SAMPLES_DAYS',
        msg: expect.stringMatching(
          /FLEETPMAP_RETENTION_SAMPLES_DAY .* did you mean FLEETPMAP_RETENTION_SAMPLES_DAYS\?/,
        ),
      }),
    ]);
  });
});
