import { describe, expect, it } from 'vitest';
import { type PsRow, psCsv, renderPs } from './ps.ts';
import { renderTop, type TopRow, topCsv } from './top.ts';
import { formatUptime, uptimeMs } from './top-render.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const HOUR = 3_600_000;

function topRow(over: Partial<TopRow>): TopRow {
  return {
    host: 'web-1',
    pid: 812,
    startTicks: 51_234,
    comm: 'java',
    cmdline: 'java -jar app.jar',
    exe: '/usr/bin/java',
    cgroup: null,
    metric: 'anon',
    firstSeenMs: NOW - 2 * HOUR,
    lastSeenMs: NOW - 60_000,
    startedAtMs: NOW - 5 * HOUR - 20 * 60_000,
    currentKb: 2048,
    growthKb: 100,
    slopeKbPerHour: 50,
    pctPerHour: 2.4,
    confidence: 0.9,
    leak: true,
    timeToLimitHours: null,
    limitKb: 524_288,
    reason: 'leak',
    growingSinceMs: null,
    incarnations: 1,
    asOfMs: NOW - 60_000,
    ...over,
  };
}

function psRow(over: Partial<PsRow>): PsRow {
  return {
    host: 'web-1',
    pid: 812,
    startTicks: 51_234,
    comm: 'java',
    cmdline: 'java -jar app.jar',
    takenAtMs: NOW,
    firstSeenMs: NOW - 2 * HOUR,
    startedAtMs: NOW - 50 * HOUR,
    threads: 40,
    rssKb: 1024,
    anonKb: 512,
    swapKb: 0,
    pssKb: null,
    ussKb: null,
    heapKb: null,
    limitKb: 2_097_152,
    rollupAtMs: null,
    heapAtMs: null,
    ...over,
  };
}

describe('UPTIME', () => {
  it('runs from the start when it is known, else from the first sighting as a lower bound', () => {
    expect(uptimeMs(NOW, NOW - 50 * HOUR, NOW - 2 * HOUR)).toBe(50 * HOUR);
    expect(formatUptime(NOW, NOW - 50 * HOUR, NOW - 2 * HOUR)).toBe('2d2h');
    expect(uptimeMs(NOW, null, NOW - 2 * HOUR)).toBe(2 * HOUR);
    expect(formatUptime(NOW, null, NOW - 2 * HOUR)).toBe('>2h');
    // A start a moment after the snapshot (read during the collection) is no negative age.
    expect(formatUptime(NOW, NOW + 300, NOW)).toBe('0s');
  });

  it('ps shows it at the snapshot time, marked when only a lower bound', () => {
    const rows = [psRow({}), psRow({ host: 'old-1', pid: 9, startedAtMs: null })];
    const lines = renderPs(rows, NOW).trimEnd().split('\n');
    expect(lines[1]).toMatch(/^web-1\s+812\s+java -jar app\.jar\s+2d2h\s/);
    expect(lines[2]).toMatch(/^old-1\s+9\s+java -jar app\.jar\s+>2h\s/);
    const csv = psCsv(rows).trimEnd().split('\r\n');
    expect(csv[0]).toBe(
      'HOST,PID,COMMAND,UPTIME_MS,STARTED_AT_MS,RSS_KB,PSS_KB,USS_KB,ANON_KB,HEAP_KB,SWAP_KB,LIMIT_KB,ROLLUP_AT_MS,HEAP_AT_MS',
    );
    expect(csv[1]).toBe(
      `web-1,812,java -jar app.jar,${50 * HOUR},${NOW - 50 * HOUR},1024,,,512,,0,2097152,,`,
    );
    expect(csv[2]).toBe(`old-1,9,java -jar app.jar,${2 * HOUR},,1024,,,512,,0,2097152,,`);
  });

  it('ps marks the sizes read before the snapshot, so a PSS above RSS is not read as current', () => {
    const rows = [
      // A process that shrank after its last smaps_rollup: that PSS is older than its RSS.
      psRow({ pssKb: 2048, ussKb: 1900, rollupAtMs: NOW - 4 * 60_000 }),
      psRow({
        pid: 813,
        pssKb: 900,
        ussKb: 800,
        rollupAtMs: NOW,
        heapKb: 300,
        heapAtMs: NOW - 12 * 60_000,
      }),
      psRow({ pid: 814 }),
    ];
    const lines = renderPs(rows, NOW).trimEnd().split('\n');
    expect(lines[1]).toMatch(/^web-1\s+812\s.*\s1\.0M\s+2\.0M\*\s+1\.9M\*\s+512K\s+-\s+0K$/);
    expect(lines[2]).toMatch(/^web-1\s+813\s.*\s1\.0M\s+900K\s+800K\s+512K\s+300K\*\s+0K$/);
    expect(lines[3]).toMatch(/^web-1\s+814\s.*\s1\.0M\s+-\s+-\s+512K\s+-\s+0K$/);
    expect(lines[4]).toBe(
      '* read up to 12m before RSS, ANON and SWAP: smaps_rollup and full maps are read less often (--json: rollupAtMs, heapAtMs)',
    );
    expect(lines).toHaveLength(5);
    // A host that stopped pushing is named, with how long ago it was heard from.
    const silent = renderPs(
      [psRow({}), psRow({ host: 'db-2', takenAtMs: NOW - 2 * HOUR })],
      NOW + 60_000,
    );
    expect(silent.trimEnd().split('\n').at(-1)).toBe(
      'not heard from lately, rows as of their last snapshot: db-2 (2h ago) (fleetpmap hosts)',
    );
    // All read with the snapshot: no marks, no note.
    const fresh = renderPs(
      rows.map((r) => ({ ...r, rollupAtMs: NOW, heapAtMs: NOW })),
      NOW,
    );
    expect(fresh).not.toContain('*');
    const csv = psCsv(rows).trimEnd().split('\r\n');
    // PSS_KB … HEAP_AT_MS: the sizes unmarked, the times of the deeper reads at the end.
    expect(csv[1]?.split(',').slice(-8)).toEqual([
      '2048',
      '1900',
      '512',
      '',
      '0',
      '2097152',
      String(NOW - 4 * 60_000),
      '',
    ]);
    expect(csv[2]?.split(',').slice(-2)).toEqual([String(NOW), String(NOW - 12 * 60_000)]);
  });

  it('top shows it as of the last sighting, so a process that exited does not age', () => {
    const row = topRow({ lastSeenMs: NOW });
    const unknown = { ...row, host: 'old-1', startedAtMs: null };
    // Exited three hours ago, 40 minutes after it started: it ran 40 minutes.
    const exited = topRow({
      host: 'web-9',
      startedAtMs: NOW - 3 * HOUR - 40 * 60_000,
      firstSeenMs: NOW - 3 * HOUR - 40 * 60_000,
      lastSeenMs: NOW - 3 * HOUR,
    });
    const lines = renderTop([row, unknown, exited]).trimEnd().split('\n');
    expect(lines[1]).toMatch(/^web-1\s+812\s+java -jar app\.jar\s+5h20m\s/);
    expect(lines[2]).toMatch(/^old-1\s+812\s+java -jar app\.jar\s+>2h\s/);
    expect(lines[3]).toMatch(/^web-9\s+812\s+java -jar app\.jar\s+40m\s/);
    const csv = topCsv([row, unknown]).trimEnd().split('\r\n');
    expect(csv[0]).toBe(
      'HOST,PID,COMMAND,UPTIME_MS,STARTED_AT_MS,SIZE,GROWTH,KIB/H,%/H,CONFIDENCE,TO_LIMIT_H,LIMIT_KB,VERDICT,GROWING_SINCE_MS',
    );
    expect(csv[1]?.split(',').slice(-4)).toEqual(['-', '524288', 'LEAK', '']);
    expect(csv[1]?.split(',').slice(3, 5)).toEqual([
      String(5 * HOUR + 20 * 60_000),
      String(row.startedAtMs),
    ]);
    expect(csv[2]?.split(',').slice(3, 5)).toEqual([String(2 * HOUR), '']);
  });

  it('top says since when a leak that began inside the window grows', () => {
    const since = Date.UTC(2026, 10, 23, 14, 20, 31);
    const row = topRow({ firstSeenMs: NOW - 30 * HOUR, growingSinceMs: since });
    expect(renderTop([row]).trimEnd().split('\n')[1]).toMatch(/LEAK since 2026-11-23T14:20Z$/);
    expect(topCsv([row]).trimEnd().split('\r\n')[1]?.split(',').slice(-2)).toEqual([
      'LEAK',
      String(since),
    ]);
  });
});
