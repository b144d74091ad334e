import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeResult, type EncodedJobResult, type Job, type JobResult } from './exec.ts';
import { nodeBin } from './programs.ts';

const execFileAsync = promisify(execFile);
const runnerPath = fileURLToPath(new URL('./freeze-runner.ts', import.meta.url));

/** The per-process files pmap reads (reference §14); fleetpmap must read nothing else. */
export const procFiles = ['maps', 'smaps', 'stat', 'status', 'cmdline'] as const;

/** Frozen /proc content: paths relative to the proc root (`1234/smaps`, `sysvipc/shm`). */
export type ProcSnapshot = Map<string, Buffer>;

export async function snapshotProc(
  pids: readonly number[],
  options: { sysv?: boolean; procRoot?: string } = {},
): Promise<ProcSnapshot> {
  const root = options.procRoot ?? '/proc';
  const snapshot: ProcSnapshot = new Map();
  for (const pid of new Set(pids)) {
    for (const file of procFiles) {
      snapshot.set(`${pid}/${file}`, await readFile(join(root, String(pid), file)));
    }
  }
  if (options.sysv) snapshot.set('sysvipc/shm', await readFile(join(root, 'sysvipc/shm')));
  return snapshot;
}

export async function writeSnapshot(snapshot: ProcSnapshot, dir: string): Promise<void> {
  for (const [relative, bytes] of snapshot) {
    const path = join(dir, relative);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
}

/**
 * Runs `jobs` in a private mount namespace where every file of `snapshot` is bind-mounted over
 * its live /proc counterpart, so the real pmap and fleetpmap read exactly the same bytes.
 * `extraBinds` (files or directories) are mounted after those.
 */
export async function runFrozen(
  snapshot: ProcSnapshot,
  jobs: Job[],
  extraBinds: [source: string, target: string][] = [],
): Promise<JobResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-freeze-'));
  try {
    await writeSnapshot(snapshot, join(dir, 'proc'));
    const binds = [
      ...[...snapshot.keys()].map((relative) => [
        join(dir, 'proc', relative),
        join('/proc', relative),
      ]),
      ...extraBinds,
    ];
    const specPath = join(dir, 'spec.json');
    const resultPath = join(dir, 'result.json');
    await writeFile(specPath, JSON.stringify({ binds, jobs }));
    await execFileAsync('unshare', ['-m', '--', nodeBin, runnerPath, specPath, resultPath], {
      timeout: 10 * 60_000,
    });
    const encoded = JSON.parse(await readFile(resultPath, 'utf8')) as EncodedJobResult[];
    return encoded.map(decodeResult);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
