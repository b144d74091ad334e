import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { agentBin, cliBin } from '../support/paths.ts';
import { startServerProcess } from '../support/server-process.ts';

const run = promisify(execFile);

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

/** The real `fleetpmap-server` on PGlite in `dataDir`, on `port` (0 = any). */
export async function startServer(dataDir: string, port = 0) {
  const { child: proc, url } = await startServerProcess([
    '--data-dir',
    dataDir,
    '--listen',
    `127.0.0.1:${port}`,
  ]);
  return {
    proc,
    url,
    port: Number(new URL(url).port),
    adminToken: async () => (await readFile(`${dataDir}/admin-token`, 'utf8')).trim(),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      proc.kill(signal);
      await exited(proc);
    },
  };
}

/** One JSON log line of the agent (pino). */
export type AgentLog = { msg?: string; snapshotId?: string; snapshotIds?: string[] } & Record<
  string,
  unknown
>;

/** The real `fleetpmap-agent`, its pino log lines collected as they arrive. */
export function startAgent(args: string[]) {
  const proc = spawn(process.execPath, [agentBin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: AgentLog[] = [];
  let carry = '';
  proc.stderr?.on('data', (c: Buffer) => {
    const lines = (carry + c.toString()).split('\n');
    carry = lines.pop() ?? '';
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as AgentLog);
      } catch {
        logs.push({ msg: l });
      }
    }
  });
  const produced = () => logs.filter((l) => l.msg === 'cycle').flatMap((l) => l.snapshotIds ?? []);
  const acknowledged = () =>
    logs.filter((l) => l.msg === 'acknowledged').map((l) => l.snapshotId ?? '');
  return {
    proc,
    logs,
    produced,
    acknowledged,
    async stop() {
      proc.kill('SIGTERM');
      await exited(proc);
    },
    exited: () => exited(proc),
  };
}

export async function cli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cliBin, ...args], { maxBuffer: 1 << 24 });
  return stdout;
}

/** An agent token for `host`, made through the real CLI with the admin token. */
export async function agentToken(url: string, adminToken: string, host: string) {
  const out = await cli([
    'token',
    'create',
    '--role',
    'agent',
    '--host',
    host,
    '--server',
    url,
    '--token',
    adminToken,
    '--json',
  ]);
  return (JSON.parse(out) as { token: string }).token;
}
