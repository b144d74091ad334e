import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { Clock } from './clock.ts';
import type { TierConfig } from './collector.ts';

/** Real /proc files captured from this kind of host: a sleep, a python with 8 MiB, kthreadd. */
export const fixtureProcRoot = fileURLToPath(new URL('./fixtures/proc', import.meta.url));

/** A writable copy of the fixture tree, so a test can make a process grow or be replaced. */
export async function copyFixtureTree(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-agent-proc-'));
  await cp(fixtureProcRoot, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

/** Rewrites one `Key:\t N kB` line of a fixture's status file. */
export async function setStatusKb(root: string, pid: number, key: string, kb: number) {
  const path = join(root, String(pid), 'status');
  const text = await readFile(path, 'utf8');
  const re = new RegExp(`^${key}:\\s+\\d+ kB$`, 'm');
  if (!re.test(text)) throw new Error(`no ${key} in ${path}`);
  await writeFile(path, text.replace(re, `${key}:\t${String(kb).padStart(8)} kB`));
}

export async function statusKb(root: string, pid: number, key: string): Promise<number> {
  const text = await readFile(join(root, String(pid), 'status'), 'utf8');
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
  if (!m?.[1]) throw new Error(`no ${key}`);
  return Number(m[1]);
}

/** Time that moves only when told: `advance` runs pending sleeps whose time has come. */
export class FakeClock implements Clock {
  #mono = 1_000_000;
  #wall = Date.UTC(2026, 10, 23, 12, 0, 0);
  #sleepers: { at: number; resolve: () => void }[] = [];

  nowMs(): number {
    return this.#wall;
  }
  monoMs(): number {
    return this.#mono;
  }
  advance(ms: number): void {
    this.#mono += ms;
    this.#wall += ms;
    const due = this.#sleepers.filter((s) => s.at <= this.#mono);
    this.#sleepers = this.#sleepers.filter((s) => s.at > this.#mono);
    for (const s of due) s.resolve();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const entry = { at: this.#mono + ms, resolve };
      this.#sleepers.push(entry);
      signal?.addEventListener('abort', () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== entry);
        resolve();
      });
    });
  }
  get sleeping(): number {
    return this.#sleepers.length;
  }
}

/** Tier settings for tests: the agent's intervals, with no size or mapping limit to back off on. */
export const UNLIMITED_TIERS: TierConfig = {
  rollupIntervalMs: 300_000,
  fullIntervalMs: 900_000,
  growthTriggerKb: 1024,
  readBudgetMs: 200,
  cycleBudgetMs: 5_000,
  maxRssKb: 1e9,
  maxMappings: 1e9,
  maxBackoffLevel: 5,
};

/**
 * Why a small tmpfs cannot be mounted here (read-only and full file systems are real mounts,
 * which need root), or undefined when it can. Tests that need one skip with this reason printed,
 * never in CI.
 */
export function tmpfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  try {
    const probe = execFileSync('mktemp', ['-d']).toString().trim();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]);
    execFileSync('umount', [probe]);
    execFileSync('rmdir', [probe]);
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs: ${(err as Error).message}`;
  }
}

/** An HTTP peer on 127.0.0.1 that acknowledges pushes like the server, or holds them unanswered. */
export async function peer(mode: { hold: boolean }) {
  const received: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) as {
        snapshotId: string;
      };
      received.push(body.snapshotId);
      if (mode.hold) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          result: {
            data: {
              snapshotId: body.snapshotId,
              accepted: true,
              duplicate: false,
              processCount: 0,
              mappingCount: 0,
              serverTimeMs: Date.now(),
            },
          },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
