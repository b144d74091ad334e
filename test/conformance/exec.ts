import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';

/** One program run, described as data so it can cross into a private mount namespace. */
export interface Job {
  /** argv[0] is an absolute path; nothing here is ever interpreted by a shell. */
  argv: string[];
  /** What the program sees as argv[0] (getopt prefixes its messages with it). */
  argv0?: string;
  env: Record<string, string>;
  cwd?: string;
  /** Send stdout to /dev/full to provoke pmap's write error at exit. */
  stdoutToDevFull?: boolean;
  /** Run with the uid/gid of `nobody` (through setpriv), without supplementary groups. */
  asNobody?: boolean;
}

export interface JobResult {
  stdout: Buffer;
  stderr: Buffer;
  /** Exit code, or null when a signal ended the program. */
  rc: number | null;
  signal: string | null;
}

export interface EncodedJobResult {
  stdout: string;
  stderr: string;
  rc: number | null;
  signal: string | null;
}

const jobTimeoutMs = 60_000;
/** Output beyond this is a runaway program, not a pmap listing. */
const outputCapBytes = 64 * 1024 * 1024;

export async function executeJob(job: Job): Promise<JobResult> {
  const [command, ...args] = job.asNobody
    ? ['/usr/bin/setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...job.argv]
    : job.argv;
  if (command === undefined) throw new Error('empty argv');
  const devFull = job.stdoutToDevFull ? await open('/dev/full', 'w') : undefined;
  try {
    return await new Promise<JobResult>((resolve, reject) => {
      const child = spawn(command, args, {
        env: job.env,
        argv0: job.asNobody ? undefined : job.argv0,
        cwd: job.cwd,
        stdio: ['ignore', devFull ? devFull.fd : 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        size += chunk.length;
        if (size > outputCapBytes) child.kill('SIGKILL');
        else into.push(chunk);
      };
      child.stdout?.on('data', collect(out));
      child.stderr?.on('data', collect(err));
      const timer = setTimeout(() => child.kill('SIGKILL'), jobTimeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (rc, signal) => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(out), stderr: Buffer.concat(err), rc, signal });
      });
    });
  } finally {
    await devFull?.close();
  }
}

export function encodeResult(result: JobResult): EncodedJobResult {
  return {
    stdout: result.stdout.toString('base64'),
    stderr: result.stderr.toString('base64'),
    rc: result.rc,
    signal: result.signal,
  };
}

export function decodeResult(result: EncodedJobResult): JobResult {
  return {
    stdout: Buffer.from(result.stdout, 'base64'),
    stderr: Buffer.from(result.stderr, 'base64'),
    rc: result.rc,
    signal: result.signal,
  };
}

/** Runs jobs with a small, fixed parallelism, keeping results in job order. */
export async function executeAll(jobs: Job[], parallel = 2): Promise<JobResult[]> {
  const results: JobResult[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      const job = jobs[index];
      if (job !== undefined) results[index] = await executeJob(job);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
  return results;
}
