// Test support, shared by the remote script's own tests and the SSH tests: not used by the CLI.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The comm the forger takes: the second line of its stat reads like a stat line of PID 1. */
export const FORGED_COMM = 'x\n1 (sleep';

/**
 * A process that names itself `FORGED_COMM`, once its stat shows that name; it waits on stdin
 * until killed.
 */
export async function spawnCommForger(): Promise<ChildProcess> {
  const forger = spawn('sh', ['-c', 'printf "x\\n1 (sleep" > /proc/$$/comm; read x'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const path = `/proc/${forger.pid}/stat`;
  for (let i = 0; i < 200 && !readFileSync(path, 'latin1').includes('\n1 (sleep)'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return forger;
}
