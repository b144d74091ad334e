// Where the reader's CPU goes, in one process on live pids (best of 5 rounds, CPU seconds):
//   npx node --max-semi-space-size=1 packages/procfs/bench/ratio.ts PIDFILE   (one pid per line)
// floor = read and discard every smaps; stream-decode = the reader's chunked read and latin1
// decode; stream+parse = plus parsing; full lean / full = readProcess tier 'full' without / with
// keeping every entry.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { readProcess } from '../src/host-reader.ts';
import { streamProcText } from '../src/read.ts';
import { SmapsParser } from '../src/smaps.ts';

const pidFile = process.argv[2];
if (pidFile === undefined) throw new Error('usage: ratio.ts PIDFILE');
const pids = readFileSync(pidFile, 'latin1').trim().split('\n').map(Number);
const buf = Buffer.allocUnsafe(1 << 20);

function cpuSeconds(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
}

const cases: [string, () => Promise<void>][] = [
  [
    'floor',
    async () => {
      for (const p of pids) {
        const fd = openSync(`/proc/${p}/smaps`, 'r');
        while (readSync(fd, buf, 0, buf.length, null) > 0);
        closeSync(fd);
      }
    },
  ],
  [
    'stream-decode',
    async () => {
      for (const p of pids) await streamProcText(`/proc/${p}/smaps`, () => {});
    },
  ],
  [
    'stream+parse',
    async () => {
      for (const p of pids) {
        const parser = new SmapsParser('smaps', () => {});
        await streamProcText(`/proc/${p}/smaps`, (c, b) => parser.writeBytes(b, c));
        parser.end();
      }
    },
  ],
  [
    'full lean',
    async () => {
      for (const p of pids) await readProcess(p, { tier: 'full', keepMappings: false });
    },
  ],
  [
    'full',
    async () => {
      for (const p of pids) await readProcess(p, { tier: 'full' });
    },
  ],
];

const best = new Map<string, number>();
for (let round = 0; round < 5; round++) {
  for (const [name, run] of cases) {
    const c0 = cpuSeconds();
    await run();
    const d = cpuSeconds() - c0;
    best.set(name, Math.min(best.get(name) ?? Number.POSITIVE_INFINITY, d));
  }
}
const floor = best.get('floor') ?? Number.NaN;
for (const [name, v] of best) {
  console.log(`${name.padEnd(14)} ${v.toFixed(3)} s  ${(v / floor).toFixed(2)}x`);
}
