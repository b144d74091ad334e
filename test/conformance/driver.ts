import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cliBin, repoRoot } from '../support/paths.ts';
import {
  type ScenarioBinaries,
  type ScenarioGroup,
  scenarioEnv,
  startScenario,
} from '../support/scenario.ts';
import {
  type CaseContext,
  type CaseSpec,
  missingPid,
  type ProcessSpec,
  type RunSpec,
} from './cases.ts';
import type { Job, JobResult } from './exec.ts';
import { type ProcSnapshot, runFrozen, snapshotProc } from './freeze.ts';
import { baseEnv, fleetpmapArgv, nodeBin, pmapArgv } from './programs.ts';

export interface Outcome extends JobResult {
  /** Content of the run's `collect` files after it finished (null: not there). */
  files: Record<string, Buffer | null>;
}

export interface RunOutcome {
  run: RunSpec;
  expected: Outcome;
  /** fleetpmap's outcome; absent when only capturing goldens. */
  actual?: Outcome;
}

export interface CaseOutcome {
  spec: CaseSpec;
  ctx: CaseContext;
  snapshot: ProcSnapshot;
  runs: RunOutcome[];
}

export const pythonBin = '/usr/bin/python3';

const readyPollMs = 10;

/** `sleep` prints nothing, so wait until it sits in clock_nanosleep (230) or nanosleep (35). */
async function waitUntilSleeping(pid: number): Promise<void> {
  for (let waited = 0; waited < 15_000; waited += readyPollMs) {
    const syscall = await readFile(`/proc/${pid}/syscall`, 'latin1').catch(() => '');
    if (/^(230|35) /.test(syscall)) return;
    await sleep(readyPollMs);
  }
  throw new Error(`sleep ${pid} never reached its sleep`);
}

async function startProcess(
  spec: ProcessSpec,
  binaries: ScenarioBinaries,
  group: ScenarioGroup,
  dir: string,
): Promise<number[]> {
  const args = (spec.args ?? []).map((arg) => arg.replaceAll('@DIR@', dir));
  switch (spec.kind) {
    case 'scenario':
      return (await startScenario(group, binaries.pie, args)).pids;
    case 'scenario-nopie':
      return (await startScenario(group, binaries.noPie, args)).pids;
    case 'python': {
      const code = "import os, time\nprint('READY', os.getpid(), flush=True)\ntime.sleep(100000)";
      return (await startScenario(group, pythonBin, ['-c', code])).pids;
    }
    case 'sleep': {
      const child = spawn('/usr/bin/sleep', ['100000'], { stdio: 'ignore', env: scenarioEnv });
      group.add(child);
      if (child.pid === undefined) throw new Error('sleep did not start');
      await waitUntilSleeping(child.pid);
      return [child.pid];
    }
  }
}

/** A kworker rescuer (`kworker/R-…`): those live as long as the kernel, pool workers do not. */
export async function findKworker(): Promise<number> {
  let fallback: number | undefined;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'latin1').catch(() => '');
    if (comm.startsWith('kworker/R-')) return Number(entry);
    if (comm.startsWith('kworker/') && fallback === undefined) fallback = Number(entry);
  }
  if (fallback === undefined) throw new Error('no kworker thread found');
  return fallback;
}

export function argsOf(run: RunSpec, runDir: string): string[] {
  return [...run.flags, ...run.targets].map((arg) => arg.replaceAll('@RUN@', runDir));
}

/** A fresh directory for one program run: HOME lives in it, and the run's setup files. */
export async function prepareRunDir(parent: string, run: RunSpec): Promise<string> {
  const dir = await mkdtemp(join(parent, `run-${run.id}-`));
  await mkdir(join(dir, 'home'));
  for (const [relative, content] of Object.entries(run.setup ?? {})) {
    await mkdir(dirname(join(dir, relative)), { recursive: true });
    await writeFile(join(dir, relative), content);
  }
  return dir;
}

export function jobFor(
  program: 'pmap' | 'fleetpmap',
  run: RunSpec,
  args: string[],
  runDir: string,
  extraEnv: Record<string, string> = {},
  subjectArgv: string[] = fleetpmapArgv,
): Job {
  const locale = run.localeVars ?? run.locale ?? 'C.UTF-8';
  const env = { ...baseEnv(locale, join(runDir, 'home')), ...extraEnv };
  if (run.noHome) delete env.HOME;
  if (run.hideKernel) env.LIBPROC_HIDE_KERNEL = '1';
  return {
    argv: [...(program === 'pmap' ? pmapArgv : subjectArgv), ...args],
    // As typed in a shell, so getopt's messages read `pmap: invalid option -- 'z'` (reference §1).
    argv0: program === 'pmap' ? 'pmap' : undefined,
    env,
    // Not the run directory: that sits under a root-only temp dir, and runs as nobody need a cwd.
    cwd: '/',
    stdoutToDevFull: run.stdoutToDevFull,
    asNobody: run.asNobody,
  };
}

export async function collectFiles(run: RunSpec, runDir: string): Promise<Outcome['files']> {
  const files: Outcome['files'] = {};
  for (const relative of run.collect ?? []) {
    files[relative] = await readFile(join(runDir, relative)).catch(() => null);
  }
  return files;
}

function replaceBytes(buffer: Buffer, from: string, to: string): Buffer {
  return Buffer.from(buffer.toString('latin1').replaceAll(from, to), 'latin1');
}

function shortenSnapshot(snapshot: ProcSnapshot, long: string, short: string): ProcSnapshot {
  const copy: ProcSnapshot = new Map();
  for (const [path, bytes] of snapshot) {
    copy.set(path, /\/(maps|smaps)$/.test(path) ? replaceBytes(bytes, long, short) : bytes);
  }
  return copy;
}

/** pmap run once per PID: outputs back to back, exit codes combined as pmap combines them. */
function concatenate(results: JobResult[]): JobResult {
  const rcs = results.map((r) => r.rc);
  return {
    stdout: Buffer.concat(results.map((r) => r.stdout)),
    stderr: Buffer.concat(results.map((r) => r.stderr)),
    rc: rcs.some((rc) => rc === null) ? null : rcs.reduce<number>((a, b) => a | (b ?? 0), 0),
    signal: results.find((r) => r.signal !== null)?.signal ?? null,
  };
}

/**
 * The repository as `nobody` can reach it. A checkout under a private directory (/root/…) is
 * out of nobody's reach, so the runs as nobody see it bind-mounted at a world-readable path;
 * paths inside it (the pinned node, workspace links) stay relative and keep working.
 */
async function nobodyRepoView(): Promise<{
  argv: string[];
  bind: [string, string];
  dir: string;
}> {
  const view = await mkdtemp(join(tmpdir(), 'fleetpmap-repo-'));
  await chmod(view, 0o755);
  const inside = (path: string) => {
    const rel = relative(repoRoot, path);
    return rel.startsWith('..') ? path : join(view, rel);
  };
  return { argv: [inside(nodeBin), inside(cliBin)], bind: [repoRoot, view], dir: view };
}

interface PlannedRun {
  run: RunSpec;
  expectedDir: string;
  expectedJobs: number[];
  /** Index into the whole-lines batch instead of the main one. */
  wholeLines: boolean;
  actualDir?: string;
  actualJob?: number;
}

/**
 * Starts the case's processes, freezes their /proc files and runs every command line of the
 * case with the real pmap (the expectation) and, when `subject` is set, with fleetpmap.
 */
export async function runCase(
  spec: CaseSpec,
  binaries: ScenarioBinaries,
  group: ScenarioGroup,
  options: { subject: boolean },
): Promise<CaseOutcome> {
  const dir = await mkdtemp(join(binaries.dir, `${spec.name}-`));
  const procs: number[][] = [];
  for (const process of spec.processes)
    procs.push(await startProcess(process, binaries, group, dir));
  const ctx: CaseContext = { procs, kworker: await findKworker(), dir };
  const runs = spec.runs(ctx);
  // Each process's own PID, plus every PID a run names (TIDs, zombies, kernel threads); other
  // threads of a process are left live, which keeps the goldens small.
  const named = runs
    .flatMap((run) => run.targets)
    .filter(
      (target) => /^\d+$/.test(target) && target !== missingPid && existsSync(`/proc/${target}`),
    )
    .map(Number);
  const pids = [
    ...procs.map((p) => p[0] ?? 0),
    ...named,
    ...(spec.kernelThreads ? [2, ctx.kworker] : []),
  ];
  const snapshot = await snapshotProc(pids, { sysv: spec.sysv });
  spec.synthesize?.(ctx, snapshot);
  const shorten = spec.shorten?.(ctx);

  const frozen: Job[] = [];
  const whole: Job[] = [];
  const direct: Job[] = [];
  const repoView = runs.some((run) => run.asNobody) ? await nobodyRepoView() : undefined;
  const planned: PlannedRun[] = [];
  for (const run of runs) {
    const batch = run.asNobody ? direct : frozen;
    const expectedDir = await prepareRunDir(dir, run);
    const plan: PlannedRun = {
      run,
      expectedDir,
      expectedJobs: [],
      wholeLines: run.expect === 'whole-lines',
    };
    const expectedBatch = plan.wholeLines ? whole : batch;
    if (run.expect === 'per-pid') {
      for (const target of run.targets) {
        const args = argsOf({ ...run, targets: [target] }, expectedDir);
        plan.expectedJobs.push(expectedBatch.push(jobFor('pmap', run, args, expectedDir)) - 1);
      }
    } else {
      const args = argsOf(run, expectedDir);
      plan.expectedJobs.push(expectedBatch.push(jobFor('pmap', run, args, expectedDir)) - 1);
    }
    if (options.subject) {
      plan.actualDir = await prepareRunDir(dir, run);
      const args = argsOf(run, plan.actualDir);
      const subject = run.asNobody && repoView ? repoView.argv : fleetpmapArgv;
      plan.actualJob = batch.push(jobFor('fleetpmap', run, args, plan.actualDir, {}, subject)) - 1;
    }
    planned.push(plan);
  }
  if (whole.length > 0 && shorten === undefined) throw new Error(`${spec.name}: no shorten()`);
  const [frozenResults, wholeResults, directResults] = await Promise.all([
    frozen.length > 0 ? runFrozen(snapshot, frozen) : [],
    whole.length > 0 && shorten
      ? runFrozen(shortenSnapshot(snapshot, shorten.long, shorten.short), whole)
      : [],
    direct.length > 0 && repoView ? runFrozen(new Map(), direct, [repoView.bind]) : [],
  ]);
  // An empty mount point outside the namespace; rmdir cannot touch the repository.
  if (repoView) await rmdir(repoView.dir);

  const outcomes: RunOutcome[] = [];
  for (const plan of planned) {
    const source = plan.wholeLines
      ? wholeResults
      : plan.run.asNobody
        ? directResults
        : frozenResults;
    const parts = plan.expectedJobs.map((index) => {
      const result = source[index];
      if (result === undefined) throw new Error(`${spec.name}/${plan.run.id}: no result`);
      return result;
    });
    let expected = parts.length === 1 && parts[0] ? parts[0] : concatenate(parts);
    if (plan.wholeLines && shorten) {
      expected = {
        ...expected,
        stdout: replaceBytes(expected.stdout, shorten.short, shorten.long),
        stderr: replaceBytes(expected.stderr, shorten.short, shorten.long),
      };
    }
    const outcome: RunOutcome = {
      run: plan.run,
      expected: { ...expected, files: await collectFiles(plan.run, plan.expectedDir) },
    };
    if (plan.actualJob !== undefined && plan.actualDir !== undefined) {
      const actual = (plan.run.asNobody ? directResults : frozenResults)[plan.actualJob];
      if (actual === undefined) throw new Error(`${spec.name}/${plan.run.id}: no result`);
      outcome.actual = { ...actual, files: await collectFiles(plan.run, plan.actualDir) };
    }
    outcomes.push(outcome);
  }
  return { spec, ctx, snapshot, runs: outcomes };
}
