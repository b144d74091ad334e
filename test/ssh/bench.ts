// npm run bench:remote — `fleetpmap 127.0.0.1:PID -X` against `ssh 127.0.0.1 pmap -X PID` on a
// throwaway loopback sshd: a small process, a process with 3,000+ mappings, and 20 targets on
// one host in one call against 20 separate ssh + pmap calls. Runs are interleaved, the median of
// each side is reported, and the ratio is fleetpmap / reference (lower is better).

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin, nodeBin } from '../support/paths.ts';
import { sshdUnavailable, startSshd } from './sshd.ts';

const RUNS = Number(process.env.FLEETPMAP_BENCH_RUNS ?? 10);

/** Wall time of one run. A failed run is repeated (and said so), never silently timed. */
function timeMs(argv: string[], env: NodeJS.ProcessEnv): number {
  const [command = '', ...args] = argv;
  for (let attempt = 1; ; attempt++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status === 0) return elapsed;
    const why = result.stderr.toString().trim().split('\n')[0];
    if (attempt === 3) throw new Error(`${argv.join(' ')} failed (${result.status}): ${why}`);
    console.error(`bench:remote: retrying a failed run of ${command} (${result.status}): ${why}`);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function waitReady(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`workload exited with ${code}`)));
  });
}

async function main(): Promise<void> {
  const missing = sshdUnavailable();
  if (missing !== null) throw new Error(`bench:remote needs sshd: ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-bench-remote-'));
  const children: ChildProcess[] = [];
  await using sshd = await startSshd();
  try {
    const bin = join(dir, 'workload');
    execFileSync('gcc', ['-O2', '-pthread', '-o', bin, join(import.meta.dirname, 'workload.c')]);
    const small = spawn('sleep', ['3600'], { stdio: 'ignore' });
    const big = spawn(bin, [dir, '3000'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(small, big);
    await waitReady(big);
    const many: number[] = [];
    for (let i = 0; i < 20; i++) {
      const child = spawn('sleep', ['3600'], { stdio: 'ignore' });
      children.push(child);
      many.push(child.pid as number);
    }
    const mappings = readFileSync(`/proc/${big.pid}/maps`, 'latin1').trimEnd().split('\n').length;

    const env = { PATH: process.env.PATH, HOME: sshd.home, USER: 'root', LC_ALL: 'C.UTF-8' };
    const fleet = (targets: number[]) => [
      nodeBin,
      cliBin,
      '--port',
      String(sshd.port),
      '-X',
      ...targets.map((pid) => `127.0.0.1:${pid}`),
    ];
    const ssh = (pid: number) => ['ssh', ...sshd.sshArgs(), 'pmap', '-X', String(pid)];

    const cases: { name: string; goal: string; ours: () => number; reference: () => number }[] = [
      {
        name: 'small process (sleep)',
        goal: '<= 1.2',
        ours: () => timeMs(fleet([small.pid as number]), env),
        reference: () => timeMs(ssh(small.pid as number), env),
      },
      {
        name: `${mappings} mappings`,
        goal: '<= 1.2',
        ours: () => timeMs(fleet([big.pid as number]), env),
        reference: () => timeMs(ssh(big.pid as number), env),
      },
      {
        name: '20 targets, one host',
        goal: '< 1',
        ours: () => timeMs(fleet(many), env),
        reference: () => many.reduce((sum, pid) => sum + timeMs(ssh(pid), env), 0),
      },
    ];

    console.log(`bench:remote — loopback sshd, median of ${RUNS} interleaved runs`);
    console.log(
      `${'case'.padEnd(24)} ${'fleetpmap ms'.padStart(13)} ${'ssh+pmap ms'.padStart(12)} ${'ratio'.padStart(7)}  goal`,
    );
    for (const c of cases) {
      // One warm-up each: Node's compile cache and sshd's page cache, on both sides alike.
      c.ours();
      c.reference();
      const ours: number[] = [];
      const reference: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        ours.push(c.ours());
        reference.push(c.reference());
      }
      const a = median(ours);
      const b = median(reference);
      console.log(
        `${c.name.padEnd(24)} ${a.toFixed(0).padStart(13)} ${b.toFixed(0).padStart(12)} ${(a / b).toFixed(2).padStart(7)}  ${c.goal}`,
      );
    }
  } finally {
    for (const child of children) child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
