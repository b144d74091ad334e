import { randomUUID } from 'node:crypto';
import { refreshVerdicts } from '@fleetpmap/api';
import { rollupAggregates } from '@fleetpmap/db';
import { exampleProcess, exampleSnapshot, type Snapshot } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drivers, startTestServer, type TestServer } from '../server/harness.ts';
import { fleetpmap } from '../support/cli.ts';
import { HOUR_MS, noise, SAMPLE_MS } from './fleet-history.ts';

/** Level for 12 hours, then growing 3 %/h for 8: a leak that began with some load or feature. */
const LEVEL_HOURS = 12;
const HOURS = 20;

function snapshots(endMs: number, bootTimeMs: number): Snapshot[] {
  const base = exampleSnapshot();
  const steps = Math.round((HOURS * HOUR_MS) / SAMPLE_MS);
  const out: Snapshot[] = [];
  for (let i = 0; i < steps; i++) {
    const hoursIn = (i * SAMPLE_MS) / HOUR_MS;
    // A GC-like saw-tooth of 8 % every 20 minutes, over the level and the leak.
    const sawtooth = 1 + 0.08 * (((i * SAMPLE_MS) % (20 * 60_000)) / (20 * 60_000));
    // And ±0.5 % of noise: with floors identical to the KiB the trend test's correction reads
    // their rounding as persistence at some clock phases (docs/analysis.md, rule 9).
    const anonKb = Math.round(
      400_000 * (1 + 0.03 * Math.max(0, hoursIn - LEVEL_HOURS)) * sawtooth * (1 + 0.005 * noise(i)),
    );
    out.push({
      ...base,
      snapshotId: randomUUID(),
      takenAtMs: endMs - (steps - 1 - i) * SAMPLE_MS,
      host: { ...base.host, name: 'late-1', bootTimeMs },
      processes: [
        exampleProcess({
          pid: 700,
          startTicks: 500,
          comm: 'indexer',
          cmdline: '/usr/bin/indexer --watch',
          exe: '/usr/bin/indexer',
          status: { ...exampleProcess().status, rssAnonKb: anonKb },
        }),
      ],
    });
  }
  return out;
}

for (const driver of drivers()) {
  describe(`a leak that began after hours of level memory (${driver.name})`, () => {
    let t: TestServer;
    let reader: string;
    const endMs = Date.now() - 60_000;
    const onsetMs = endMs - (HOURS - LEVEL_HOURS) * HOUR_MS;
    const as = (token: string) => ['--server', t.url, '--token', token];

    beforeAll(async () => {
      t = await startTestServer(driver, { FLEETPMAP_ROLLUP_INTERVAL_MS: String(24 * HOUR_MS) });
      const admin = t.client(t.adminToken);
      reader = (await admin.token.create.mutate({ role: 'reader' })).token;
      // Booted a day before the history starts, so the process is long past its startup.
      const all = snapshots(endMs, endMs - (HOURS + 24) * HOUR_MS);
      for (let i = 0; i < all.length; i += 8) {
        await Promise.all(all.slice(i, i + 8).map((s) => admin.snapshot.push.mutate(s)));
      }
      await rollupAggregates(t.server.database.handle.db, { settleMs: 0 });
    }, 300_000);
    afterAll(async () => {
      await t?.[Symbol.asyncDispose]();
    });

    it('history calls it a leak, says when it began and which diff shows what grew', async () => {
      const r = await fleetpmap([
        'history',
        'late-1:700',
        '--window',
        '18h',
        '--json',
        ...as(reader),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const h = JSON.parse(r.stdout) as {
        trend: {
          leak: boolean;
          slopeKbPerHour: number;
          pctPerHour: number;
          timeToLimitHours: number;
          limitKb: number;
          onset: { atMs: number; slopeBeforeKbPerHour: number; slopeAfterKbPerHour: number };
        };
      };
      expect(h.trend.leak).toBe(true);
      expect(Math.abs(h.trend.onset.atMs - onsetMs)).toBeLessThanOrEqual(45 * 60_000);
      // 3 %/h of 400 MB since the onset; the level before it did not move.
      expect(h.trend.onset.slopeAfterKbPerHour).toBeGreaterThan(9_000);
      expect(Math.abs(h.trend.onset.slopeBeforeKbPerHour)).toBeLessThan(1_000);
      // Its rate and time to limit are top's: the rate since the onset, not the window's.
      const top = await fleetpmap(['top', '--window', '18h', '--json', ...as(reader)]);
      const row = (
        JSON.parse(top.stdout) as {
          host: string;
          slopeKbPerHour: number;
          pctPerHour: number;
          timeToLimitHours: number;
        }[]
      ).find((x) => x.host === 'late-1');
      expect(row).toBeDefined();
      expect(h.trend.slopeKbPerHour).toBe(row?.slopeKbPerHour);
      expect(h.trend.pctPerHour).toBe(row?.pctPerHour);
      expect(h.trend.timeToLimitHours).toBe(row?.timeToLimitHours);
      expect(h.trend.slopeKbPerHour).toBeGreaterThan(9_000);
      const text = await fleetpmap(['history', 'late-1:700', '--window', '20h', ...as(reader)]);
      expect(text.stdout).toMatch(
        /^growth began about \S+Z: [+-]\d+ KiB\/h before, \+\d+ KiB\/h since$/m,
      );
      const diffHint = /^what grew since: fleetpmap diff late-1:700 --from (\S+)$/m.exec(
        text.stdout,
      );
      // A quarter of an hour before the onset, so the diff starts from a map taken before it.
      const from = Date.parse(diffHint?.[1] ?? '');
      expect(Math.abs(from - (onsetMs - 15 * 60_000))).toBeLessThanOrEqual(45 * 60_000);
    });

    it('top over a day ranks it as a leak since it began, with its time to limit at that rate, live and stored', async () => {
      type Row = {
        host: string;
        leak: boolean;
        timeToLimitHours: number;
        currentKb: number;
        limitKb: number;
        growingSinceMs: number;
        asOfMs: number;
      };
      const top = async () => {
        const r = await fleetpmap(['top', '--window', '24h', '--json', ...as(reader)]);
        expect(r.code, r.stderr).toBe(0);
        return (JSON.parse(r.stdout) as Row[]).find((x) => x.host === 'late-1');
      };
      const live = await top();
      expect(live?.leak).toBe(true);
      // Served hourly, the 24 h window has 8 floors since the onset: enough to judge them alone.
      // The time to limit runs at ~12 MB/h, not at the whole window's diluted slope.
      const atOnsetRate = ((live?.limitKb ?? 0) - (live?.currentKb ?? 0)) / 12_000;
      expect(live?.timeToLimitHours).toBeLessThan(1.5 * atOnsetRate);
      // Hourly floors date it to within about an hour.
      expect(Math.abs((live?.growingSinceMs ?? 0) - onsetMs)).toBeLessThanOrEqual(75 * 60_000);
      const text = await fleetpmap(['top', '--window', '24h', ...as(reader)]);
      expect(text.stdout).toMatch(/^late-1\s.*LEAK since \d{4}-\d\d-\d\dT\d\d:\d\dZ$/m);

      // The verdicts the server stores after the rollup carry it too.
      const nowMs = Date.now();
      await refreshVerdicts(
        t.server.database.handle.db,
        { windowsMs: [24 * HOUR_MS], metrics: ['anon'] },
        { nowMs },
      );
      const stored = await top();
      expect(stored?.asOfMs).toBeLessThanOrEqual(nowMs);
      expect(stored?.leak).toBe(true);
      expect(Math.abs((stored?.growingSinceMs ?? 0) - onsetMs)).toBeLessThanOrEqual(75 * 60_000);
    });

    it('the fleet report says since when it grows', async () => {
      const admin = ['--server', t.url, '--token', t.adminToken];
      const json = await fleetpmap([
        'report',
        'run',
        '--window',
        '24h',
        '--format',
        'json',
        ...admin,
      ]);
      expect(json.code, json.stderr).toBe(0);
      const report = JSON.parse(json.stdout) as {
        leaks: { host: string; growingSinceMs: number | null }[];
      };
      const leak = report.leaks.find((l) => l.host === 'late-1');
      expect(Math.abs((leak?.growingSinceMs ?? 0) - onsetMs)).toBeLessThanOrEqual(75 * 60_000);
      const text = await fleetpmap(['report', 'run', '--window', '24h', ...admin]);
      expect(text.stdout).toMatch(/GROWING SINCE/);
      expect(text.stdout).toMatch(/^late-1\s.*\s\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ(\s|$)/m);
    });
  });
}
