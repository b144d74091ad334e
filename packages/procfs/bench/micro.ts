// Parser micro-benchmark: npx node packages/procfs/bench/micro.ts SMAPS_FILE
// Prints the fastest of many parses (robust against a busy machine), per entry.
import { readFileSync } from 'node:fs';
import { parseSmaps } from '../src/smaps.ts';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: micro.ts SMAPS_FILE');
const raw = readFileSync(path, 'latin1');
// A sequential (non-external) copy, like the 64 KiB chunks the reader decodes.
const text = process.env.MICRO_EXTERNAL ? raw : raw.split('\n').join('\n');
let entries = 0;
let best = Number.POSITIVE_INFINITY;
for (let i = 0; i < 60; i++) {
  const c0 = process.cpuUsage();
  entries = parseSmaps(text, path).length;
  const c = process.cpuUsage(c0);
  // CPU time of this thread's work is steadier than wall time on a shared machine.
  const ms = (c.user + c.system) / 1000;
  if (i >= 10 && ms < best) best = ms;
}
console.log(
  `${entries} entries: best ${best.toFixed(2)} ms, ${((best * 1000) / entries).toFixed(3)} us/entry, ` +
    `${(text.length / best / 1000).toFixed(0)} MB/s`,
);
