// Runs the agent's collection in this process, tier by tier, and prints what each cycle cost as
// one JSON document. Started by bench-agent.ts so the figures are this process's alone.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { Agent } from '../src/agent.ts';
import { systemClock } from '../src/clock.ts';
import type { TierConfig } from '../src/collector.ts';
import { procfsSource } from '../src/proc-source.ts';

const cycles = Number(process.argv[2] ?? 10);
const log = pino({ level: 'silent' });
const base: TierConfig = {
  rollupIntervalMs: 1e12,
  fullIntervalMs: 1e12,
  growthTriggerKb: 1024,
  readBudgetMs: 1e9,
  cycleBudgetMs: 1e9,
  maxRssKb: 1e12,
  maxMappings: 1e9,
  maxBackoffLevel: 0,
};

function statusKb(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(
    readFileSync('/proc/self/status', 'utf8'),
  );
  return Number(m?.[1] ?? 0);
}

let wireBytes = 0;
let jsonBytes = 0;
const sink = async (snaps: { snapshotId: string }[]) => {
  for (const s of snaps) {
    // What a push costs besides the socket: serialising and compressing the body.
    const json = Buffer.from(JSON.stringify(s));
    jsonBytes += json.length;
    wireBytes += gzipSync(json).length;
  }
};

async function phase(tiers: TierConfig, forceFull: boolean) {
  const agent = new Agent({
    source: procfsSource({ procRoot: '/proc' }),
    clock: systemClock,
    log,
    tiers,
    hostName: 'bench',
    labels: {},
    version: 'bench',
    cheapIntervalMs: 1000,
    sink,
  });
  // The first cycle reads every new process at every tier; the phase measures what follows.
  await agent.runCycle({ forceFull });
  wireBytes = 0;
  jsonBytes = 0;
  const cpu: number[] = [];
  const wall: number[] = [];
  let processes = 0;
  let mappings = 0;
  for (let i = 0; i < cycles; i++) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    const r = await agent.runCycle({ forceFull });
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - w0);
    cpu.push((c.user + c.system) / 1000);
    processes = r.result.processCount;
    mappings = r.result.mappingCount;
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    cpuMs: mean(cpu),
    wallMs: mean(wall),
    processes,
    mappings,
    jsonBytesPerCycle: jsonBytes / cycles,
    wireBytesPerCycle: wireBytes / cycles,
    rssKbAfter: statusKb('VmRSS'),
  };
}

const cheap = await phase(base, false);
const rollup = await phase({ ...base, rollupIntervalMs: 1 }, false);
const full = await phase(base, true);
process.stdout.write(
  `${JSON.stringify({ cheap, rollup, full, hwmKb: statusKb('VmHWM'), rssKb: statusKb('VmRSS') })}\n`,
);
