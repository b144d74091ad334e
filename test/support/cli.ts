import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cliBin } from './paths.ts';

const run = promisify(execFile);

export type CliResult = { code: number; stdout: string; stderr: string };

/**
 * The real `fleetpmap` binary as a child process, with only PATH, HOME and NO_COLOR from this
 * environment plus `env`; a non-zero exit is a result to assert on, not an exception.
 */
export async function fleetpmap(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cliBin, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
