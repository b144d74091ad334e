import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cliBin } from './paths.ts';

const run = promisify(execFile);

export type CliResult = { code: number; stdout: string; stderr: string };

export type CliOptions = {
  /** added to PATH, HOME and NO_COLOR, the only variables taken from this environment */
  env?: NodeJS.ProcessEnv;
  /** written to the command's stdin */
  input?: string;
};

/**
 * The real `fleetpmap` binary as a child process; a non-zero exit is a result to assert on, not
 * an exception.
 */
export async function fleetpmap(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  try {
    const child = run(process.execPath, [cliBin, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...opts.env },
      maxBuffer: 64 * 1024 * 1024,
    });
    if (opts.input !== undefined) child.child.stdin?.end(opts.input);
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `fleetpmap` that must succeed: its stdout, or an error carrying its exit code and stderr. */
export async function fleetpmapStdout(args: string[], opts: CliOptions = {}): Promise<string> {
  const r = await fleetpmap(args, opts);
  if (r.code !== 0) throw new Error(`fleetpmap ${args[0]} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
