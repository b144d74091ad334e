import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSnapshot, processStartMs } from '@fleetpmap/protocol';
import { describe, expect, it } from 'vitest';
import { buildFleet, sampleInstance } from './fleet.ts';
import { parseScenario, ScenarioError } from './scenario.ts';
import { hostSnapshots, truthOf } from './snapshots.ts';

const SCENARIOS = join(import.meta.dirname, '../../../bench/scenarios');
/** Scenarios kept out of bench:leaks' set, each measured on its own (docs/analysis.md). */
const HELD_OUT = join(import.meta.dirname, '../bench/held-out');

const small = {
  name: 'small',
  seed: 5,
  start: '2026-11-01T00:00:00Z',
  durationHours: 3,
  sampleIntervalSec: 60,
  hosts: { count: 3, prefix: 'web-' },
  processes: [
    {
      name: 'api',
      exe: '/opt/api/bin/api',
      baseKb: [100000, 200000],
      pattern: [{ type: 'noise', pct: 1 }],
      leak: [{ type: 'linear', pctPerHour: 3 }],
      leakHostShare: 0.5,
      restart: { everyHours: 1.2 },
    },
    {
      name: 'db',
      baseKb: 300000,
      pattern: [{ type: 'sawtooth', amplitudePct: 10, periodMinutes: 2 }],
    },
  ],
};

describe('scenarios', () => {
  it('every committed scenario file is valid', () => {
    const files = [SCENARIOS, HELD_OUT].flatMap((dir) =>
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => join(dir, f)),
    );
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      expect(() => parseScenario(JSON.parse(readFileSync(f, 'utf8'))), f).not.toThrow();
    }
  });

  it('refuses bad and oversized scenarios with the field named', () => {
    expect(() => parseScenario({ ...small, durationHours: -1 })).toThrow(/durationHours/);
    expect(() => parseScenario({ ...small, hosts: { count: 1e6 } })).toThrow(ScenarioError);
    expect(() =>
      parseScenario({
        ...small,
        processes: [{ name: 'x', baseKb: 1, pattern: [{ type: 'bogus' }] }],
      }),
    ).toThrow(/type/);
    expect(() =>
      parseScenario({ ...small, hosts: { count: 2000 }, sampleIntervalSec: 1, durationHours: 300 }),
    ).toThrow(/too large/);
  });

  it('replays bit for bit from its seed and changes with it', () => {
    const values = (seed: number) => {
      const fleet = buildFleet(parseScenario({ ...small, seed }));
      const out: number[] = [];
      for (const inst of fleet.instances) sampleInstance(fleet, inst, (_t, _k, kb) => out.push(kb));
      return out;
    };
    expect(values(5)).toEqual(values(5));
    expect(values(5)).not.toEqual(values(6));
  });
});

describe('snapshots', () => {
  it('are valid protocol-v1 snapshots with one record per live process', () => {
    const fleet = buildFleet(parseScenario(small));
    const host = fleet.hosts[0]?.name as string;
    const snaps = [...hostSnapshots(fleet, host)];
    expect(snaps).toHaveLength(180);
    for (const snap of snaps) {
      const r = parseSnapshot(snap, { nowMs: fleet.endMs });
      expect(r.ok ? 'ok' : `${r.path}: ${r.message}`).toBe('ok');
    }
    expect(new Set(snaps.map((s) => s.snapshotId)).size).toBe(180);
    expect(snaps.every((s) => s.processes.length === 2 || s.processes.length === 1)).toBe(true);
  });

  it('carry one pid and start time per incarnation, matching the ground truth', () => {
    const fleet = buildFleet(parseScenario(small));
    const truth = truthOf(fleet);
    const api = truth.processes.find((p) => p.name === 'api' && p.host === fleet.hosts[0]?.name);
    expect(api?.incarnations.length).toBeGreaterThanOrEqual(2);
    const seen = new Map<number, number>();
    for (const snap of hostSnapshots(fleet, api?.host as string)) {
      for (const p of snap.processes) if (p.comm === 'api') seen.set(p.pid, p.startTicks);
    }
    expect([...seen.entries()]).toEqual(api?.incarnations.map((i) => [i.pid, i.startTicks]));
    // A receiver computes each incarnation's start from the host's boot time and the ticks,
    // to the clock tick (10 ms).
    const started = new Set<number | null>();
    for (const snap of hostSnapshots(fleet, api?.host as string)) {
      for (const p of snap.processes) {
        if (p.comm === 'api') started.add(processStartMs(snap.host, p.startTicks));
      }
    }
    const offByMs = [...started].map((ms, k) =>
      ms === null ? null : Math.abs(ms - (api?.incarnations[k]?.startMs ?? 0)),
    );
    expect(offByMs).toEqual(api?.incarnations.map(() => expect.any(Number)));
    for (const off of offByMs) expect(off).toBeLessThanOrEqual(5);
    // rssAnon + swap is the anon metric; the status block is internally consistent.
    const first = hostSnapshots(fleet, api?.host as string).next().value;
    for (const p of first?.processes ?? []) {
      expect(p.status.vmRssKb).toBe(p.status.rssAnonKb + p.status.rssFileKb + p.status.rssShmemKb);
      expect(p.status.vmHwmKb).toBeGreaterThanOrEqual(p.status.vmRssKb);
    }
  });

  it('mark leaks only where a leak component runs', () => {
    const truth = truthOf(buildFleet(parseScenario(small)));
    for (const p of truth.processes) {
      expect(p.leak).toBe(p.leakRatePctPerHour > 0);
      if (p.name === 'db') expect(p.leak).toBe(false);
    }
  });
});
