import { type ChildProcess, spawn } from 'node:child_process';
import { serverBin } from './paths.ts';

/** What a child process with piped stdout and stderr has written so far. */
export type ChildOutput = { readonly stdout: string; readonly stderr: string };

/** Collects the stdout and stderr of `child` (both piped) as they arrive. */
export function collectOutput(child: ChildProcess): ChildOutput {
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (c: Buffer) => {
    output.stdout += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output.stderr += c.toString();
  });
  return output;
}

const listenTimeoutMs = 60_000;

/**
 * The real `fleetpmap-server` binary as a child process with `args` (which say where to listen)
 * and `env` over this process's environment, logging warnings and worse; resolves with its URL
 * once it listens.
 */
export async function startServerProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; url: string; output: ChildOutput }> {
  const child = spawn(process.execPath, [serverBin, ...args], {
    // Fixtures are snapshots of fixed dates; the server refuses days older than its samples
    // retention, so test servers keep samples for a century unless a test says otherwise.
    env: {
      ...process.env,
      FLEETPMAP_LOG_LEVEL: 'warn',
      FLEETPMAP_RETENTION_SAMPLES_DAYS: '36500',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collectOutput(child);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not listen within ${listenTimeoutMs} ms: ${output.stderr}`));
    }, listenTimeoutMs);
    child.stdout?.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(output.stdout);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${output.stdout}${output.stderr}`));
    });
  });
  return { child, url, output };
}
