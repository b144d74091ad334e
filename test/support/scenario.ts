import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './paths.ts';

const execFileAsync = promisify(execFile);

export const scenarioSource = join(repoRoot, 'test/conformance/scenario.c');

export interface ScenarioBinaries {
  /** Directory holding the binaries and the scratch files the scenarios map. */
  dir: string;
  /** Position-independent build: addresses like 55d1c0a4f000. */
  pie: string;
  /** Non-PIE build: the main binary sits at 0x400000, an 8-digit address in -X. */
  noPie: string;
}

/** Compiles the scenario program into a fresh temporary directory. */
export async function buildScenario(): Promise<ScenarioBinaries> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-scenario-'));
  const pie = join(dir, 'scenario');
  const noPie = join(dir, 'scenario-nopie');
  const flags = ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread'];
  await execFileAsync('gcc', [...flags, '-o', pie, scenarioSource]);
  await execFileAsync('gcc', [...flags, '-no-pie', '-o', noPie, scenarioSource]);
  return { dir, pie, noPie };
}

export interface RunningScenario {
  child: ChildProcess;
  /** The scenario's own PID first, then the PIDs it reported (threads' TIDs, zombie children). */
  pids: number[];
}

const readyTimeoutMs = 15_000;

/** Scenario processes get a fixed environment: nothing of the caller's leaks into /proc. */
export const scenarioEnv = { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' };

/**
 * Starts a command that prints `READY <pid>…` when its memory layout is in place, and resolves
 * once that line arrived. The process is registered in `group` so it is always killed.
 */
export function startScenario(
  group: ScenarioGroup,
  command: string,
  args: string[],
): Promise<RunningScenario> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: scenarioEnv });
  group.add(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      reject(new Error(`${command} ${args.join(' ')}: not ready after ${readyTimeoutMs} ms`));
    }, readyTimeoutMs);
    child.stdout?.setEncoding('latin1');
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const line = /^READY((?: \d+)+)\n/m.exec(out);
      if (line?.[1] !== undefined) {
        clearTimeout(timer);
        resolve({ child, pids: line[1].trim().split(' ').map(Number) });
      }
    });
    child.stderr?.setEncoding('latin1');
    child.stderr?.on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited early (${code ?? signal}): ${err}`));
    });
  });
}

/** Every process a test file started, killed together in afterAll and in finally blocks. */
export class ScenarioGroup {
  readonly #children = new Set<ChildProcess>();
  readonly #dirs = new Set<string>();

  add(child: ChildProcess): void {
    this.#children.add(child);
  }

  addDir(dir: string): void {
    this.#dirs.add(dir);
  }

  async dispose(): Promise<void> {
    const exits = [...this.#children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    );
    await Promise.all(exits);
    this.#children.clear();
    await Promise.all([...this.#dirs].map((dir) => rm(dir, { recursive: true, force: true })));
    this.#dirs.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
