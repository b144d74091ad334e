// Text from the monitored hosts (and the server's messages quoting it) reaches the terminal only
// through `printable`: every command's human output, not only its tables.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildLeakReport } from '@fleetpmap/analysis';
import { DEFAULT_SHM_MINOR, FULL_RANGE } from '@fleetpmap/pmap';
import { exampleMapping } from '@fleetpmap/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStoredMap, type StoredMap } from './at.ts';
import { call } from './client.ts';
import { type DiffResult, renderDiff } from './diff.ts';
import { renderReportText, type StoredReport } from './report.ts';

/** Controls, C1, line separators and bidi controls: none may reach the terminal. */
const UNSAFE = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;
const CLEAR = '\u001b[2J\u001b[31m';

/** The output without its own line breaks, which must then hold nothing unsafe. */
function expectPrintable(out: string): void {
  expect(out.replaceAll('\n', '')).not.toMatch(UNSAFE);
}

describe('human output of host text', () => {
  it('diff: the host in the heading, the mapping paths in the table', () => {
    const d: DiffResult = {
      host: `web-1${CLEAR}`,
      pid: 7,
      startTicks: 1,
      fromMs: 0,
      toMs: 60_000,
      rssBeforeKb: 1,
      rssAfterKb: 2,
      changes: [
        {
          kind: 'appeared',
          start: '1000',
          end: '2000',
          perms: 'rw-p',
          path: `/tmp/x\nappeared  fake\u202e`,
          rssBeforeKb: 0,
          rssAfterKb: 4,
          rssDeltaKb: 4,
          sizeBeforeKb: 0,
          sizeAfterKb: 4,
          sizeDeltaKb: 4,
        },
      ],
    };
    const out = renderDiff(d);
    expectPrintable(out);
    expect(out).toMatch(/^web-1\?\[2J\?\[31m:7 from /);
    expect(out).toContain('/tmp/x?appeared  fake?');
    expect(out.split('\n')).toHaveLength(4);
  });

  it('report: the heading quotes the scope and schedule as text', () => {
    const report = buildLeakReport([], {
      generatedAtMs: 0,
      windowMs: 3_600_000,
      toMs: 3_600_000,
      metric: 'anon',
      scope: { hostGlob: 'web-*', labels: { team: `a${CLEAR}\u202eb` } },
    });
    const stored = {
      id: 3,
      schedule: `team\u001b]0;x\u0007`,
      scope: report.scope,
      report,
    } as unknown as StoredReport;
    const out = renderReportText(stored);
    expectPrintable(out);
    expect(out).toContain('(team?]0;x?; hosts web-*, labels team=a?[2J?[31m?b)');
  });

  const map = (cmdline: string, path: string): StoredMap => ({
    host: `live-1${CLEAR}`,
    pid: 9,
    startTicks: 1,
    takenAtMs: 0,
    comm: 'idle',
    cmdline,
    mappings: [exampleMapping({ path }), exampleMapping({ path: '[stack]', start: '7ffe1000' })],
  });

  it('--at: the command line and the mapping paths, with UTF-8 and without', () => {
    const layout = {
      mode: 'default' as const,
      quiet: false,
      showPath: true,
      range: { ...FULL_RANGE },
      shmMinor: DEFAULT_SHM_MINOR,
    };
    const hostile = map(`idle \u009b31m \u202eexe.sh`, `/srv/lib${CLEAR}\nfake\u2066.so`);
    for (const utf8 of [true, false]) {
      const out = renderStoredMap(hostile, layout, utf8).toString(utf8 ? 'utf8' : 'latin1');
      const plain = renderStoredMap(map('idle', '/srv/lib.so'), layout, utf8).toString('latin1');
      expectPrintable(out);
      // One line per mapping, as for a harmless map: the line break forged none.
      expect(out.split('\n')).toHaveLength(plain.split('\n').length);
      expect(out).toMatch(utf8 ? /^9: {3}idle \?31m \?exe\.sh$/m : /^9: {3}idle \?\?31m /m);
      expect(out).toContain('/srv/lib?[2J?[31m?fake');
    }
    // Without UTF-8 pmap escapes the command line itself ('.' for controls), as before.
    const c0 = renderStoredMap(map('idle\u0007x', '/a'), layout, false).toString('latin1');
    expect(c0).toMatch(/^9: {3}idle\.x$/m);
  });
});

describe('server messages', () => {
  const server = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: {
          message: `no full map of web-1${CLEAR}\n\u202efake:1`,
          code: -32004,
          data: { code: 'NOT_FOUND', httpStatus: 404 },
        },
      }),
    );
  });
  let url = '';
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('quote host text as text in the error the command prints', async () => {
    const connection = { server: url, token: 't', timeoutMs: 5_000 };
    const failed = call(connection, (c) => c.host.list.query());
    await expect(failed).rejects.toThrow(
      'server answered 404: no full map of web-1?[2J?[31m??fake:1',
    );
  });
});
