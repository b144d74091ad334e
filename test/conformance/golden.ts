import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunSpec } from './cases.ts';
import type { CaseOutcome, Outcome } from './driver.ts';
import { writeSnapshot } from './freeze.ts';

/**
 * Golden layout, per case:
 *   golden/<case>/proc/<pid>/{maps,smaps,stat,status,cmdline}   frozen input (+ sysvipc/shm)
 *   golden/<case>/runs.json                                       command lines and exit codes
 *   golden/<case>/expected/<run>.stdout|.stderr                   exact bytes
 *   golden/<case>/expected/<run>.files/<path>                     files the run wrote (rc files)
 */
export const goldenRoot = fileURLToPath(new URL('./golden', import.meta.url));

export interface GoldenRun extends RunSpec {
  rc: number | null;
  signal: string | null;
}

export interface GoldenCase {
  name: string;
  dir: string;
  runs: GoldenRun[];
}

export async function writeGolden(outcome: CaseOutcome): Promise<void> {
  const dir = join(goldenRoot, outcome.spec.name);
  await rm(dir, { recursive: true, force: true });
  await writeSnapshot(outcome.snapshot, join(dir, 'proc'));
  const runs: GoldenRun[] = [];
  for (const { run, expected } of outcome.runs) {
    runs.push({ ...run, rc: expected.rc, signal: expected.signal });
    const base = join(dir, 'expected', run.id);
    await mkdir(dirname(base), { recursive: true });
    await writeFile(`${base}.stdout`, expected.stdout);
    await writeFile(`${base}.stderr`, expected.stderr);
    for (const [relative, content] of Object.entries(expected.files)) {
      if (content === null) continue;
      const path = join(`${base}.files`, relative);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }
  }
  await writeFile(join(dir, 'runs.json'), `${JSON.stringify(runs, null, 1)}\n`);
}

export async function listGoldens(): Promise<GoldenCase[]> {
  const names = await readdir(goldenRoot).catch(() => [] as string[]);
  const goldens: GoldenCase[] = [];
  for (const name of names.sort()) {
    const dir = join(goldenRoot, name);
    const runs = JSON.parse(await readFile(join(dir, 'runs.json'), 'utf8')) as GoldenRun[];
    goldens.push({ name, dir, runs });
  }
  return goldens;
}

export async function readExpected(golden: GoldenCase, run: GoldenRun): Promise<Outcome> {
  const base = join(golden.dir, 'expected', run.id);
  const files: Outcome['files'] = {};
  for (const relative of run.collect ?? []) {
    files[relative] = await readFile(join(`${base}.files`, relative)).catch(() => null);
  }
  return {
    stdout: await readFile(`${base}.stdout`),
    stderr: await readFile(`${base}.stderr`),
    rc: run.rc,
    signal: run.signal,
    files,
  };
}
