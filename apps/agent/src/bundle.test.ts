import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseSnapshot } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleAgent } from '../scripts/bundle.ts';
import { PRODUCTION_FLAGS } from '../scripts/production-flags.ts';
import { fixtureProcRoot } from './test-support.ts';

const run = promisify(execFile);

/** The production binary: the esbuild bundle, run with the V8 flags of its #! line. */
describe('the agent bundle', () => {
  let dir: string;
  let bundle: string;
  let sources: string[];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-agent-bundle-'));
    bundle = join(dir, 'dist', 'fleetpmap-agent.mjs');
    sources = await bundleAgent(bundle);
    // The agent reads its version from the package.json beside dist/, as in the image.
    await copyFile(
      fileURLToPath(new URL('../package.json', import.meta.url)),
      join(dir, 'package.json'),
    );
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const agent = (args: string[]) =>
    run(process.execPath, [...PRODUCTION_FLAGS, bundle, ...args], {
      env: { PATH: '/usr/bin:/bin' },
    });

  it('holds no zod: the schemas the agent never calls stay out of its resident memory', () => {
    expect(sources.some((s) => s.includes('packages/procfs/src/smaps.ts'))).toBe(true);
    expect(
      sources.filter((s) => /node_modules\/zod\/|packages\/protocol\/src\/snapshot\.ts/.test(s)),
    ).toEqual([]);
  });

  it('collects a cycle with full maps into a snapshot the server accepts', async () => {
    const { stdout } = await agent([
      '--once',
      '--full',
      '--output',
      '-',
      '--proc-root',
      fixtureProcRoot,
    ]);
    const parsed = parseSnapshot(JSON.parse(stdout));
    expect(parsed.ok && parsed.snapshot.processes.some((p) => (p.mappings?.length ?? 0) > 0)).toBe(
      true,
    );
  });

  it('checks its config without the schemas, with the same message', async () => {
    const refused = await agent(['--once', '--output', '-', '--label', '__proto__=x']).catch(
      (e) => e,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/invalid labels: __proto__: /);
  });
});
