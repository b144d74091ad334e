// npm run bench:scan [-- --big 16 --big-maps 5000 --small 204 --small-maps 120 --rounds 3]
//
// Builds a small C workload, starts a synthetic host of processes with many mappings and measures,
// each in a fresh child process: the kernel floor (reading every smaps and discarding it, from
// node with a big buffer and with one `cat`), fleetpmap's reader parsing every smaps into records,
// and `pmap -XX` once per process; then the same floor/reader pair for smaps_rollup.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readHost, readSmapsFile } from '../src/host-reader.ts';

const here = dirname(fileURLToPath(import.meta.url));
const self = fileURLToPath(import.meta.url);

type ProcFile = 'smaps' | 'smaps_rollup';

interface Figures {
  wallS: number;
  cpuS: number;
  maxRssKb: number;
  /** Bytes read (floor) or mappings parsed (reader); a sanity check that both did the work. */
  items: number;
  errors: number;
}

// ---- measuring child ----------------------------------------------------------------------------

function vmHwmKb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'latin1'));
  return m ? Number(m[1]) : 0;
}

async function scanOnce(
  kind: string,
  file: ProcFile,
  pids: number[],
): Promise<{ items: number; errors: number }> {
  const wanted = new Set(pids);
  let items = 0;
  let errors = 0;
  if (kind === 'floor') {
    const buf = Buffer.allocUnsafe(1024 * 1024);
    for (const pid of pids) {
      const fd = openSync(`/proc/${pid}/${file}`, 'r');
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        items += n;
      }
      closeSync(fd);
    }
  } else if (kind === 'records') {
    // The smaps path alone: stream, parse into records, classify (what the floor is to compare
    // with); the main stack is found by its [stack] name here.
    for (const pid of pids) {
      const r = await readSmapsFile(`/proc/${pid}/${file}`, null);
      if (r.error !== undefined) errors++;
      items += r.mappings?.length ?? 0;
    }
  } else {
    const tier = file === 'smaps' ? 'full' : 'rollup';
    for await (const r of readHost({ tier, filter: (p) => wanted.has(p) })) {
      if (r.error !== undefined) errors++;
      items += tier === 'full' ? (r.mappings?.length ?? 0) : r.rollup !== undefined ? 1 : 0;
    }
  }
  return { items, errors };
}

/**
 * One timed scan. `warm`: an untimed scan first, as in an agent that scans every interval (the
 * first scan of a process also pays for JIT compilation of the parser).
 */
async function measure(
  kind: string,
  file: ProcFile,
  pidsPath: string,
  warm: boolean,
): Promise<void> {
  const pids = readFileSync(pidsPath, 'latin1').trim().split('\n').map(Number);
  if (warm) await scanOnce(kind, file, pids);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { items, errors } = await scanOnce(kind, file, pids);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const out: Figures = {
    wallS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    maxRssKb: vmHwmKb(),
    items,
    errors,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

// ---- orchestration ------------------------------------------------------------------------------

const started: ChildProcess[] = [];

function killAll(): void {
  for (const c of started) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer`);
  return v;
}

async function startWorkload(bin: string, maps: number, touchEvery: number): Promise<number> {
  const child = spawn(bin, [String(maps), String(touchEvery)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`workload exited early (${code})`)));
    child.once('error', reject);
  });
  if (child.pid === undefined) throw new Error('workload has no pid');
  return child.pid;
}

interface Run {
  figures: Figures;
  /** Whole-process figures from wait4 (node start-up included for node children). */
  outer: Figures;
}

/** Runs argv under rusage-run; stdin gets `input`, stdout is kept only when `keepStdout`. */
function runMeasured(
  runner: string,
  argv: string[],
  input: string | null,
  keepStdout: boolean,
): Promise<{ stdout: string; outer: Figures }> {
  return new Promise((resolve, reject) => {
    const child = spawn(runner, argv, {
      stdio: [input === null ? 'ignore' : 'pipe', keepStdout ? 'pipe' : 'ignore', 'pipe'],
    });
    started.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('latin1').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('latin1').on('data', (d: string) => {
      stderr += d;
    });
    if (input !== null) child.stdin?.end(input);
    child.once('error', reject);
    child.once('close', (code) => {
      const m = /RUSAGE (\S+) (\S+) (\S+) (\d+)/.exec(stderr);
      if (code !== 0 || m === null) {
        reject(new Error(`${argv.join(' ')} failed (${code}): ${stderr.slice(0, 2000)}`));
        return;
      }
      resolve({
        stdout,
        outer: {
          wallS: Number(m[1]),
          cpuS: Number(m[2]) + Number(m[3]),
          maxRssKb: Number(m[4]),
          items: 0,
          errors: 0,
        },
      });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function medianFigures(runs: Figures[]): Figures {
  return {
    wallS: median(runs.map((r) => r.wallS)),
    cpuS: median(runs.map((r) => r.cpuS)),
    maxRssKb: median(runs.map((r) => r.maxRssKb)),
    items: median(runs.map((r) => r.items)),
    errors: Math.max(...runs.map((r) => r.errors)),
  };
}

async function main(): Promise<void> {
  const big = option('big', 16);
  const bigMaps = option('big-maps', 5000);
  const small = option('small', 204);
  const smallMaps = option('small-maps', 120);
  const rounds = Math.max(1, option('rounds', 3));
  const work = mkdtempSync(join(tmpdir(), 'fleetpmap-bench-'));
  const onSignal = (sig: NodeJS.Signals) => {
    killAll();
    rmSync(work, { recursive: true, force: true });
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', killAll);
  try {
    const workload = join(work, 'workload');
    const runner = join(work, 'rusage-run');
    execFileSync('gcc', ['-O2', '-o', workload, join(here, 'workload.c')]);
    execFileSync('gcc', ['-O2', '-o', runner, join(here, 'rusage-run.c')]);
    // Measuring children run a plain-JS bundle of this file, as a deployed agent would: Node's
    // TypeScript loader alone adds ~40 MB of RSS, which is not the reader's.
    const bundle = join(work, 'measure.mjs');
    const { build } = await import('esbuild');
    await build({
      entryPoints: [self],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      outfile: bundle,
      logLevel: 'warning',
    });

    const pids: number[] = [];
    for (let i = 0; i < big; i++) pids.push(await startWorkload(workload, bigMaps, 3));
    for (let i = 0; i < small; i++) pids.push(await startWorkload(workload, smallMaps, 3));
    let mappings = 0;
    for (const pid of pids) {
      mappings += readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n').length - 1;
    }
    const pidsPath = join(work, 'pids');
    writeFileSync(pidsPath, `${pids.join('\n')}\n`);
    const smapsPaths = pids.map((p) => `/proc/${p}/smaps`);
    console.log(
      `synthetic host: ${pids.length} processes, ${mappings} mappings ` +
        `(${big} x ~${bigMaps}, ${small} x ~${smallMaps}), ${rounds} rounds, median shown`,
    );

    // Warm-up: fault in page cache, dentries and the node binary once.
    execFileSync('cat', smapsPaths, { stdio: ['ignore', 'ignore', 'inherit'] });

    const node = process.execPath;
    // A bounded V8 heap, as the agent runs: without a cap V8 lets the young and old generations
    // grow to ~150 MB under this allocation rate before collecting, which is policy, not need.
    const v8Flags = ['--max-semi-space-size=1', '--max-old-space-size=64'];
    const nodeMeasure = (kind: string, file: ProcFile, warm: boolean) => async (): Promise<Run> => {
      const r = await runMeasured(
        runner,
        [node, ...v8Flags, bundle, '--measure', kind, file, pidsPath, warm ? 'warm' : 'cold'],
        null,
        true,
      );
      return { figures: JSON.parse(r.stdout) as Figures, outer: r.outer };
    };
    const external = (argv: string[], input: string | null) => async (): Promise<Run> => {
      const r = await runMeasured(runner, argv, input, false);
      return { figures: r.outer, outer: r.outer };
    };
    const cases: [string, () => Promise<Run>][] = [
      ['smaps floor (node, 1 MiB reads)', nodeMeasure('floor', 'smaps', true)],
      ['smaps floor (one cat)', external(['cat', ...smapsPaths], null)],
      ['smaps reader, first scan', nodeMeasure('records', 'smaps', false)],
      ['smaps reader (parse all)', nodeMeasure('records', 'smaps', true)],
      ['full tier (+stat,status,cmdline,…)', nodeMeasure('parse', 'smaps', true)],
      ['pmap -XX per process', external(['xargs', '-n1', '/usr/bin/pmap', '-XX'], pids.join('\n'))],
      ['rollup floor (node)', nodeMeasure('floor', 'smaps_rollup', true)],
      [
        'rollup floor (one cat)',
        external(['cat', ...pids.map((p) => `/proc/${p}/smaps_rollup`)], null),
      ],
      ['rollup reader (parse all)', nodeMeasure('parse', 'smaps_rollup', true)],
    ];
    const results = new Map<string, Run[]>();
    for (let round = 0; round < rounds; round++) {
      for (const [name, run] of cases) {
        const list = results.get(name) ?? [];
        list.push(await run());
        results.set(name, list);
      }
    }
    const med = new Map<string, { inner: Figures; outer: Figures }>();
    for (const [name, runs] of results) {
      med.set(name, {
        inner: medianFigures(runs.map((r) => r.figures)),
        outer: medianFigures(runs.map((r) => r.outer)),
      });
    }

    const row = (name: string, f: Figures, o: Figures) =>
      `${name.padEnd(36)} ${f.wallS.toFixed(3).padStart(8)} ${f.cpuS.toFixed(3).padStart(8)} ` +
      `${(f.maxRssKb / 1024).toFixed(1).padStart(8)}   ${o.wallS.toFixed(3).padStart(8)} ` +
      `${o.cpuS.toFixed(3).padStart(8)}`;
    console.log(
      `\n${'measurement'.padEnd(36)} ${'wall s'.padStart(8)} ${'cpu s'.padStart(8)} ` +
        `${'peak MB'.padStart(8)}   ${'proc wall'.padStart(8)} ${'proc cpu'.padStart(8)}`,
    );
    for (const [name, m] of med) console.log(row(name, m.inner, m.outer));
    console.log(
      `(node rows: wall/cpu measured inside the child around one scan, start-up excluded; except\n` +
        ` "first scan", each child scanned once untimed before (as an agent scanning every interval,\n` +
        ` JIT warm); node run` +
        ` with ${v8Flags.join(' ')};\n` +
        ' "proc" columns: the whole child process from wait4, start-up included; peak = VmHWM\n' +
        ' for node children, ru_maxrss for cat and pmap)',
    );

    const get = (n: string) => {
      const m = med.get(n);
      if (m === undefined) throw new Error(`no result for ${n}`);
      return m.inner;
    };
    const floor = get('smaps floor (node, 1 MiB reads)');
    const parse = get('smaps reader (parse all)');
    const fullTier = get('full tier (+stat,status,cmdline,…)');
    const pmap = get('pmap -XX per process');
    const rFloor = get('rollup floor (node)');
    const rParse = get('rollup reader (parse all)');
    const check = (ok: boolean) => (ok ? 'ok  ' : 'MISS');
    const wallRatio = parse.wallS / floor.wallS;
    const cpuRatio = parse.cpuS / floor.cpuS;
    const pmapRatio = pmap.wallS / parse.wallS;
    console.log('\nratios (smaps)');
    console.log(
      `  ${check(wallRatio <= 1.3)} reader/floor wall ${wallRatio.toFixed(2)}x (goal <= 1.3x)`,
    );
    console.log(
      `  ${check(cpuRatio <= 1.6)} reader/floor cpu  ${cpuRatio.toFixed(2)}x (goal <= 1.6x)`,
    );
    console.log(
      `  ${check(pmapRatio >= 6)} pmap loop/reader wall ${pmapRatio.toFixed(1)}x (goal >= 6x)`,
    );
    console.log(
      `  ${check(parse.maxRssKb <= 100 * 1024)} reader peak RSS ${(parse.maxRssKb / 1024).toFixed(1)} MB (goal <= 100 MB)`,
    );
    console.log(
      `  reader parsed ${parse.items} mappings of ${mappings} listed, ${parse.errors} process errors`,
    );
    console.log(
      `  full tier/floor: wall ${(fullTier.wallS / floor.wallS).toFixed(2)}x, ` +
        `cpu ${(fullTier.cpuS / floor.cpuS).toFixed(2)}x, peak ${(fullTier.maxRssKb / 1024).toFixed(1)} MB`,
    );
    console.log('ratios (smaps_rollup)');
    console.log(`  reader/floor wall ${(rParse.wallS / rFloor.wallS).toFixed(2)}x`);
    console.log(`  reader/floor cpu  ${(rParse.cpuS / rFloor.cpuS).toFixed(2)}x`);
    console.log(`  reader peak RSS ${(rParse.maxRssKb / 1024).toFixed(1)} MB`);
  } finally {
    killAll();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--measure') {
  await measure(
    process.argv[3] ?? '',
    (process.argv[4] ?? 'smaps') as ProcFile,
    process.argv[5] ?? '',
    process.argv[6] === 'warm',
  );
} else {
  await main();
}
