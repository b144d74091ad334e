// npm run bench:agent — the agent's cost per cycle and tier on a synthetic host, beside
// prometheus-process-exporter (Debian package) scraping the same host with smaps on.
//
// Builds a small C workload, starts ~200 processes (some with thousands of mappings), measures
// the agent tier by tier in a child process, then the exporter's CPU per scrape from
// /proc/<pid>/stat, then the real agent binary's resident memory in its steady loop. Every process
// it starts is stopped on the way out.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { peer } from '../src/test-support.ts';
import { PRODUCTION_FLAGS } from './production-flags.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const agentBin = fileURLToPath(new URL('../bin/fleetpmap-agent.js', import.meta.url));
const EXPORTER = '/usr/bin/prometheus-process-exporter';
const SMALL = Number(process.env.BENCH_SMALL ?? 180);
const BIG = Number(process.env.BENCH_BIG ?? 20);
const BIG_MAPPINGS = Number(process.env.BENCH_BIG_MAPPINGS ?? 2500);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 10);

const started: ChildProcess[] = [];
const work = mkdtempSync(join(tmpdir(), 'fleetpmap-bench-agent-'));

function cleanup(): void {
  for (const p of started) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}

function statusKb(pid: number, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(
    readFileSync(`/proc/${pid}/status`, 'utf8'),
  );
  return Number(m?.[1] ?? 0);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject()));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ticksPerSec = 100;

async function main(): Promise<void> {
  if (!existsSync(EXPORTER)) {
    throw new Error(
      `${EXPORTER} is missing: apt-get install -y prometheus-process-exporter (the reference)`,
    );
  }
  const wl = join(work, 'workload');
  execFileSync('gcc', ['-O2', '-o', wl, join(here, 'workload.c')]);
  for (let i = 0; i < SMALL; i++) {
    started.push(spawn(wl, ['10', '256'], { stdio: 'ignore' }));
  }
  for (let i = 0; i < BIG; i++) {
    started.push(spawn(wl, [String(BIG_MAPPINGS), '4096'], { stdio: 'ignore' }));
  }
  await sleep(1000);
  const procCount = execFileSync('ls', ['/proc'])
    .toString()
    .split('\n')
    .filter((n) => /^\d+$/.test(n)).length;
  console.log(
    `synthetic host: ${SMALL} small + ${BIG} processes with ${2 * BIG_MAPPINGS} mappings; ${procCount} processes in all`,
  );

  // The agent, tier by tier, in a process of its own.
  // Bundled, so that it runs with the production V8 flags: type stripping needs WebAssembly,
  // which --lite-mode turns off.
  const childBundle = join(work, 'child.mjs');
  await build({
    entryPoints: [join(here, 'bench-agent-child.ts')],
    outfile: childBundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node26',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'warning',
  });
  const child = execFileSync(process.execPath, [...PRODUCTION_FLAGS, childBundle, String(CYCLES)], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const agent = JSON.parse(child.toString()) as Record<
    'cheap' | 'rollup' | 'full',
    {
      cpuMs: number;
      wallMs: number;
      processes: number;
      mappings: number;
      wireBytesPerCycle: number;
      rssKbAfter: number;
    }
  > & { hwmKb: number };

  // The reference: the exporter with smaps on, one group per comm, every process matched.
  const port = await freePort();
  const cfg = join(work, 'exporter.yml');
  writeFileSync(cfg, 'process_names:\n  - name: "{{.Comm}}"\n    cmdline:\n    - ".*"\n');
  const exporter = spawn(
    EXPORTER,
    ['-web.listen-address', `127.0.0.1:${port}`, '-config.path', cfg, '-gather-smaps=true'],
    { stdio: 'ignore' },
  );
  started.push(exporter);
  const url = `http://127.0.0.1:${port}/metrics`;
  for (let i = 0; i < 50; i++) {
    try {
      await (await fetch(url)).text();
      break;
    } catch {
      await sleep(100);
    }
  }
  await (await fetch(url)).text(); // warm: the first scrape also discovers every process
  const pid = exporter.pid ?? 0;
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < CYCLES; i++) bytes += (await (await fetch(url)).text()).length;
  const exporterCpuMs = ((cpuTicks(pid) - t0) / ticksPerSec / CYCLES) * 1000;
  const exporterWallMs = (performance.now() - w0) / CYCLES;
  const exporterRssKb = statusKb(pid, 'VmRSS');
  exporter.kill('SIGTERM');

  // The real binary in its loop, pushing every second over HTTP to a peer that acknowledges
  // every snapshot as the server does: from TypeScript source, and as the esbuild bundle with
  // V8's defaults, with a small young generation, and with the production flags.
  const peerServer = await peer({ hold: false });
  const serverUrl = peerServer.url;
  const bundleDir = join(work, 'bundle');
  execFileSync(process.execPath, [join(here, 'build.ts')]);
  mkdirSync(join(bundleDir, 'dist'), { recursive: true });
  copyFileSync(join(here, '..', 'package.json'), join(bundleDir, 'package.json'));
  copyFileSync(join(here, '..', 'dist', 'fleetpmap-agent.mjs'), join(bundleDir, 'dist', 'a.mjs'));
  const bundle = join(bundleDir, 'dist', 'a.mjs');
  const binRss: Record<
    string,
    { rss: number; min: number; max: number; hwm: number; cpuMsPerCycle: number }
  > = {};
  for (const [entry, label, flags] of [
    [agentBin, 'source', ['--max-semi-space-size=1']],
    [bundle, 'bundle', []],
    [bundle, 'bundle', ['--max-semi-space-size=1']],
    [bundle, 'bundle', PRODUCTION_FLAGS],
  ] as const) {
    const a = spawn(
      process.execPath,
      [
        ...flags,
        entry,
        '--server',
        serverUrl,
        '--host-name',
        'bench',
        '--cheap-interval',
        '1s',
        '--log-level',
        'warn',
        '--spool-dir',
        join(work, `spool-${Object.keys(binRss).length}`),
      ],
      // The peer accepts any token; an agent with a server and no token refuses to start.
      { stdio: 'ignore', env: { ...process.env, NODE_OPTIONS: '', FLEETPMAP_TOKEN: 'bench' } },
    );
    started.push(a);
    // Past start-up, then one sample a second over 12 cycles.
    await sleep(4000);
    const samples: number[] = [];
    const ticks0 = cpuTicks(a.pid ?? 0);
    for (let i = 0; i < 12; i++) {
      samples.push(statusKb(a.pid ?? 0, 'VmRSS'));
      await sleep(1000);
    }
    binRss[`${label}, ${flags.join(' ') || 'V8 defaults'}`] = {
      rss: samples.at(-1) ?? 0,
      min: Math.min(...samples),
      max: Math.max(...samples),
      hwm: statusKb(a.pid ?? 0, 'VmHWM'),
      // Steady cycles are cheap-tier cycles (plus the odd growth-triggered rollup) and a push.
      cpuMsPerCycle: ((cpuTicks(a.pid ?? 0) - ticks0) / ticksPerSec / 12) * 1000,
    };
    a.kill('SIGTERM');
    await new Promise((r) => a.once('exit', r));
  }
  await peerServer.close();

  const row = (name: string, cpu: number, wall: number, extra: string) =>
    `${name.padEnd(30)} ${cpu.toFixed(1).padStart(9)} ${wall.toFixed(1).padStart(9)}  ${extra}`;
  console.log(
    `\n${'per cycle / scrape'.padEnd(30)} ${'CPU ms'.padStart(9)} ${'wall ms'.padStart(9)}`,
  );
  for (const t of ['cheap', 'rollup', 'full'] as const) {
    const a = agent[t];
    console.log(
      row(
        `agent ${t} tier`,
        a.cpuMs,
        a.wallMs,
        `${(a.cpuMs / exporterCpuMs).toFixed(3)}x exporter CPU; ${a.processes} processes, ${a.mappings} mappings, ${(a.wireBytesPerCycle / 1024).toFixed(0)} KiB gzip`,
      ),
    );
  }
  console.log(
    row(
      'process-exporter (smaps on)',
      exporterCpuMs,
      exporterWallMs,
      `${(bytes / CYCLES / 1024).toFixed(0)} KiB text per scrape`,
    ),
  );
  console.log('\nresident memory (KiB)');
  console.log(
    `  agent in-process, after cheap/rollup/full phases: ${agent.cheap.rssKbAfter} / ${agent.rollup.rssKbAfter} / ${agent.full.rssKbAfter}, peak ${agent.hwmKb}`,
  );
  for (const [k, v] of Object.entries(binRss)) {
    console.log(
      `  agent binary pushing every 1 s (${k}): VmRSS ${v.rss} (${v.min}..${v.max} over 12 cycles), VmHWM ${v.hwm}; CPU ${v.cpuMsPerCycle.toFixed(0)} ms/cycle = ${(v.cpuMsPerCycle / exporterCpuMs).toFixed(3)}x exporter`,
    );
  }
  console.log(`  process-exporter: ${exporterRssKb}`);
  const ratio = agent.cheap.cpuMs / exporterCpuMs;
  const prodRun = binRss[`bundle, ${PRODUCTION_FLAGS.join(' ')}`];
  const prod = prodRun?.max ?? 0;
  const prodRatio = (prodRun?.cpuMsPerCycle ?? 0) / exporterCpuMs;
  console.log(
    `\ngoals (V8 flags ${PRODUCTION_FLAGS.join(' ')}): cheap tier <= 0.2x exporter CPU: ${ratio.toFixed(3)}x ${ratio <= 0.2 ? 'met' : 'NOT met'} (whole steady loop with pushes and triggered rollups ${prodRatio.toFixed(3)}x); ` +
      `agent RSS <= 60 MB: ${prod} KiB at most ${prod <= 60 * 1024 ? 'met' : 'NOT met'}`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(`bench:agent: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  })
  .finally(cleanup);
