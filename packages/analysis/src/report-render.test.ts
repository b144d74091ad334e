import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildLeakReport,
  type LeakReport,
  type ReportOptions,
  type ReportProcess,
} from './report.ts';
import { quietProcess, REPORT_TO_MS } from './report-fixture.ts';
import { renderReportHtml, renderReportMarkdown, reportSummary } from './report-render.ts';

const HOUR = 3_600_000;
const TO_MS = REPORT_TO_MS;
const MB = 1024;
const GB = 1024 * 1024;

function proc(host: string, pid: number, extra: Partial<ReportProcess> = {}): ReportProcess {
  return quietProcess(host, pid, { currentKb: 300 * MB, ...extra });
}

function leak(host: string, pid: number, extra: Partial<ReportProcess> = {}): ReportProcess {
  return proc(host, pid, {
    leak: true,
    currentKb: 1.5 * GB,
    growthKb: 120 * MB,
    slopeKbPerHour: 5000,
    pctPerHour: 0.33,
    confidence: 0.97,
    ...extra,
  });
}

function report(processes: ReportProcess[], extra: Partial<ReportOptions> = {}) {
  return buildLeakReport(processes, {
    generatedAtMs: TO_MS + 5 * 60_000,
    windowMs: 24 * HOUR,
    toMs: TO_MS,
    metric: 'rss',
    ...extra,
  });
}

/** A small fleet: two leaks on web hosts, one in a python job, a quiet database. */
function smallReport(): LeakReport {
  return report(
    [
      leak('web-1', 4242, { timeToLimitHours: 74 }),
      leak('web-2', 77, {
        timeToLimitHours: 0.75,
        currentKb: 812,
        growthKb: 400,
        slopeKbPerHour: 120.4,
        pctPerHour: 12.5,
        confidence: 0.81,
      }),
      leak('batch-1', 9, {
        comm: 'python3',
        cmdline: '',
        exe: null,
        timeToLimitHours: null,
        currentKb: 4.2 * MB,
        growthKb: 1.1 * MB,
        slopeKbPerHour: 48,
        pctPerHour: 1.1,
        confidence: 0.6,
      }),
      proc('db-1', 300, {
        comm: 'postgres',
        cmdline: 'postgres -D /data',
        exe: '/usr/bin/postgres',
      }),
      proc('web-1', 4243),
    ],
    {
      previous: {
        id: 'r-41',
        generatedAtMs: TO_MS - 24 * HOUR + 5 * 60_000,
        leaks: [
          leak('web-1', 4000),
          leak('cache-3', 12, { comm: 'memcached', cmdline: 'memcached -m 64', exe: null }),
        ],
      },
    },
  );
}

/** The consecutive lines starting with `|`: each Markdown table as its lines. */
function markdownTables(md: string): string[][] {
  const tables: string[][] = [];
  let inTable = false;
  for (const line of md.split('\n')) {
    const isRow = line.startsWith('|');
    if (isRow && !inTable) tables.push([]);
    if (isRow) tables[tables.length - 1]?.push(line);
    inTable = isRow;
  }
  return tables;
}

/**
 * Cell delimiters as a CommonMark reader sees them (a backslash escapes the next character) and
 * as GitHub's table parser sees them (any pipe right after a backslash is content). A safe row
 * has the same count both ways.
 */
function delimiters(line: string): { commonMark: number; gfm: number } {
  let commonMark = 0;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === '|') commonMark++;
  }
  let gfm = 0;
  for (let i = 0; i < line.length; i++) if (line[i] === '|' && line[i - 1] !== '\\') gfm++;
  return { commonMark, gfm };
}

function expectWellFormedTables(md: string, rowCounts: number[]): void {
  const tables = markdownTables(md);
  expect(tables.map((t) => t.length - 2)).toEqual(rowCounts);
  for (const table of tables) {
    const head = delimiters(table[0] ?? '');
    expect(head.commonMark).toBe(head.gfm);
    for (const line of table) expect(delimiters(line)).toEqual(head);
  }
}

/** The template's own tags, with attribute values that contain no quote or angle bracket. */
const TEMPLATE_TAG =
  /<!doctype html>|<\/?(?:html|head|body|meta|title|style|h1|h2|p|ul|li|table|thead|tbody|tr|th|td)(?: [a-z-]+="[^"<>]*")*>/g;

function htmlText(html: string): string {
  return html
    .replace(TEMPLATE_TAG, '')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

describe('renderReportMarkdown', () => {
  it('says which hosts a report of part of the fleet covers', () => {
    const scoped = report([leak('web-1', 4)], {
      scope: { hostGlob: 'web-*', labels: { env: 'prod' } },
    });
    expect(renderReportMarkdown(scoped)).toContain(
      'Window: 2026-11-23T06:00Z to 2026-11-24T06:00Z (24h), metric rss, hosts web-\\*, labels env=prod; generated 2026-11-24T06:05Z.',
    );
    expect(reportSummary(scoped).split('\n')[0]).toMatch(
      /^fleetpmap leak report \(hosts web-\*, labels env=prod\), 24h to /,
    );
  });

  it('gives a window that ends at no round time to the second', () => {
    const odd = TO_MS + 15 * 60_000 + 57_049;
    const md = renderReportMarkdown(report([], { toMs: odd, generatedAtMs: odd, windowMs: HOUR }));
    expect(md).toContain(
      'Window: 2026-11-24T05:15:57Z to 2026-11-24T06:15:57Z (1h), metric rss; generated 2026-11-24T06:15:57Z.',
    );
  });

  it('gives the window, the totals and the leaks most urgent first', () => {
    const md = renderReportMarkdown(smallReport());
    const lines = md.split('\n');
    expect(lines[0]).toBe('# fleetpmap leak report');
    expect(md).toContain(
      'Window: 2026-11-23T06:00Z to 2026-11-24T06:00Z (24h), metric rss; generated 2026-11-24T06:05Z.',
    );
    expect(md).toContain(
      '3 processes leak on 3 of 4 hosts, out of 5 processes watched; together they grow by 5.0M per hour.',
    );
    const [leaks, groups] = markdownTables(md);
    expect(leaks).toEqual([
      '| Host | PID | Command | Size | Growth | KiB/h | %/h | Confidence | Time to limit | Status |',
      '| :-- | --: | :-- | --: | --: | --: | --: | --: | --: | :-- |',
      '| web-2 | 77 | /usr/bin/java -jar api.jar | 812K | +400K | 120 | 12.50 | 0.81 | 45m | new |',
      '| web-1 | 4242 | /usr/bin/java -jar api.jar | 1.5G | +120M | 5000 | 0.33 | 0.97 | 3d2h | continuing |',
      '| batch-1 | 9 | \\[python3\\] | 4.2M | +1.1M | 48 | 1.10 | 0.60 | - | new |',
    ]);
    expect(groups).toEqual([
      '| Binary | Leaking hosts | Leaking processes | Median KiB/h of the leaking |',
      '| :-- | --: | --: | --: |',
      '| /usr/bin/java | 2 of 2 | 2 | 2560 |',
      '| \\[python3\\] | 1 of 1 | 1 | 48 |',
    ]);
  });

  it('says what changed since the previous report and which leaks went away', () => {
    const md = renderReportMarkdown(smallReport());
    expect(md).toContain('## Changes since the previous report');
    expect(md).toContain('2 new, 1 continuing, 1 resolved since report r-41 of 2026-11-23T06:05Z.');
    expect(md).toContain('- pid 12 on cache-3: memcached -m 64');
    // The changes come before the leaks they qualify.
    expect(md.indexOf('## Changes')).toBeLessThan(md.indexOf('| Host |'));
  });

  it('leaves out the change section and the status column for a first report', () => {
    const md = renderReportMarkdown(report([leak('web-1', 1)]));
    expect(md).not.toContain('Changes since');
    expect(markdownTables(md)[0]?.[0]).not.toContain('Status');
    expectWellFormedTables(md, [1, 1]);
  });

  it('says since when a leak that began inside the window grows, and only then', () => {
    const since = TO_MS - 7 * HOUR;
    const r = report([leak('web-1', 10, { growingSinceMs: since }), leak('web-2', 20)]);
    const md = renderReportMarkdown(r);
    expect(md).toMatch(/\| Time to limit \| Growing since \|/);
    expect(md).toMatch(/^\| web-1 \|.*\| 2026-11-23T23:00Z \|$/m);
    expect(md).toMatch(/^\| web-2 \|.*\| - \|$/m);
    expect(reportSummary(r)).toMatch(/^web-1 10 .* since 2026-11-23T23:00Z/m);
    expect(renderReportMarkdown(report([leak('web-2', 20)]))).not.toMatch(/Growing since/);
  });

  it('shortens long command lines', () => {
    const cmdline = `/usr/bin/java ${'-Dkey=value '.repeat(20)}-jar api.jar`;
    const md = renderReportMarkdown(report([leak('web-1', 1, { cmdline })]));
    const row = markdownTables(md)[0]?.[2] ?? '';
    expect(row).toContain(`| ${cmdline.slice(0, 59)}… |`);
    expect(row).not.toContain('api.jar');
  });

  it('keeps a hostile command line inside its cell and out of the HTML', () => {
    const cmdline = 'a | b\r\nx `id` <img src=x onerror=alert(1)> \\| & *y* [l](e)';
    const md = renderReportMarkdown(
      report([leak('web-1', 1, { cmdline, exe: '/opt/a|b<i>' }), leak('web-2', 2)]),
    );
    expectWellFormedTables(md, [2, 2]);
    expect(md).not.toContain('<img');
    expect(md).not.toContain('<i>');
    expect(md).toContain(
      '| a \\| b  x \\`id\\` &lt;img src=x onerror=alert(1)&gt; \\\\\\| &amp; \\*y\\* \\[l\\](e) |',
    );
    expect(md).toContain('| /opt/a\\|b&lt;i&gt; | 1 of 1 |');
  });

  it('says plainly when nothing leaks and still gives the totals', () => {
    const md = renderReportMarkdown(report([proc('a', 1), proc('b', 2), proc('b', 3)]));
    expect(md).toContain('No process was judged leaking: 2 hosts and 3 processes watched.');
    expect(markdownTables(md)).toEqual([]);
  });

  it('says how many leaks, binaries and resolved leaks the caps left out', () => {
    const md = renderReportMarkdown(
      report(
        [
          leak('a', 1, { timeToLimitHours: 1 }),
          leak('b', 2, { exe: '/usr/bin/node', comm: 'node' }),
          leak('c', 3, { exe: '/usr/sbin/nginx', comm: 'nginx' }),
        ],
        {
          maxLeaks: 1,
          maxGroups: 2,
          previous: { id: 'r-1', generatedAtMs: 0, leaks: [leak('x', 1), leak('y', 1)] },
        },
      ),
    );
    expectWellFormedTables(md, [1, 2]);
    expect(md).toContain('2 more leaking processes are not listed.');
    expect(md).toContain('1 more leaking binary is not listed.');
    expect(md).toContain('1 more resolved leak is not listed.');
    expect(md).toContain('3 new, 0 continuing, 2 resolved since report r-1');
  });
});

describe('renderReportHtml', () => {
  it('is one standalone page with the same content and no scripts', () => {
    const html = renderReportHtml(smallReport(), { title: 'Nightly <prod> leaks' });
    expect(html.startsWith('<!doctype html>\n')).toBe(true);
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain('<title>Nightly &lt;prod&gt; leaks</title>');
    expect(html).not.toMatch(/<script|<link|<img|src=|href=|url\(/i);
    const text = htmlText(html);
    expect(text).toContain('3 processes leak on 3 of 4 hosts');
    expect(text).toContain('2 new, 1 continuing, 1 resolved');
    expect(html.indexOf('web-2')).toBeLessThan(html.indexOf('web-1'));
    expect(html).toContain(
      '<tr><td>web-2</td><td class="num">77</td><td>/usr/bin/java -jar api.jar</td>',
    );
  });

  it('shows a script in a command line as text', () => {
    const html = renderReportHtml(
      report([leak('web-1', 1, { cmdline: '<script>alert(1)</script>' })]),
    );
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('keeps a shortened command line whole in the cell title', () => {
    const cmdline = `node ${'x'.repeat(80)} "quoted"`;
    const html = renderReportHtml(report([leak('web-1', 1, { cmdline })]));
    expect(html).toContain(`title="node ${'x'.repeat(80)} &quot;quoted&quot;"`);
  });
});

/** What no rendering may carry: controls, line separators, bidi controls. */
const UNSAFE = /[\p{Cc}\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** A text as the renderers show it. */
function shown(text: string): string {
  return text
    .replace(/[\p{Cc}\u2028\u2029]/gu, ' ')
    .replace(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '?');
}

describe('report renderers on hostile input', () => {
  it('send a terminal no escape sequence and let no bidi control reorder a line', () => {
    // `evil.sh` reads as `hs.live` once U+202E reverses the rest of the line.
    const r = report(
      [
        leak('web-1\u202e', 1, {
          cmdline: 'run \u001b[2J\u001b[31m\u202eevil.sh\u2066x\u2069\nfake',
        }),
      ],
      {
        previous: {
          id: 'r-1',
          generatedAtMs: 0,
          leaks: [leak('gone\u200f', 2, { cmdline: '\u009b31m' })],
        },
      },
    );
    const outputs = {
      md: renderReportMarkdown(r),
      html: renderReportHtml(r),
      summary: reportSummary(r),
    };
    for (const [format, out] of Object.entries(outputs)) {
      expect(out.replaceAll('\n', ''), format).not.toMatch(UNSAFE);
      // Markdown escapes the brackets too.
      const command = 'run  [2J [31m?evil.sh?x? fake';
      expect(out, format).toContain(format === 'md' ? command.replaceAll('[', '\\[') : command);
      expect(out, format).toContain('web-1?');
    }
    expect(outputs.md).toContain('- pid 2 on gone?:  31m');
    expect(outputs.html).toContain('<li>pid 2 on gone?:  31m</li>');
  });

  const fragment = fc.constantFrom(
    '<',
    '>',
    '&',
    '"',
    "'",
    '|',
    '\\',
    '`',
    '\n',
    '\r',
    '\u2028',
    '\u001b[2J',
    '\u009b',
    '\u202e',
    '\u2066',
    '\u200f',
    '<script>',
    '</td>',
    '<img src=x onerror=alert(1)>',
    '&lt;',
    '\\|',
    '*',
    '[x](y)',
    '# ',
    ' ',
  );
  const text = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join('')),
  );
  const hostile = fc.record({
    host: text,
    comm: text,
    cmdline: text,
    exe: fc.option(text, { nil: null }),
  });

  it('never lets a host, comm, command line or binary add markup or table cells', () => {
    fc.assert(
      fc.property(
        fc.array(hostile, { minLength: 1, maxLength: 4 }),
        hostile,
        text,
        (fields, gone, title) => {
          const processes = fields.map((f, i) => leak(f.host, i + 1, f));
          const r = report(processes, {
            metric: title,
            previous: { id: title, generatedAtMs: 0, leaks: [leak(gone.host, 99, gone)] },
          });
          const html = renderReportHtml(r, { title });
          const left = html.replace(TEMPLATE_TAG, '');
          expect(left).not.toMatch(/[<>]/);
          // Each host shows, one line and with its bidi controls as `?`.
          for (const f of fields) expect(htmlText(html)).toContain(shown(f.host));
          expect(html.replaceAll('\n', '')).not.toMatch(UNSAFE);

          const md = renderReportMarkdown(r, { title });
          expect(md).not.toMatch(/[<>]/);
          expect(md.replaceAll('\n', '')).not.toMatch(UNSAFE);
          expectWellFormedTables(md, [r.leaks.length, r.groups.length]);
          // The title, the window and the sentences stay one line each.
          expect(md.split('\n')[1]).toBe('');
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('reportSummary', () => {
  it('gives the totals and changes, then the three most urgent leaks', () => {
    const r = report(
      [leak('a', 1, { timeToLimitHours: 2 }), ...[2, 3, 4].map((pid) => leak('b', pid))],
      {
        previous: { id: 'r-1', generatedAtMs: 0, leaks: [leak('a', 1), leak('z', 5)] },
      },
    );
    expect(reportSummary(r).split('\n')).toEqual([
      'fleetpmap leak report, 24h to 2026-11-24T06:00Z: 4 processes leak on 2 of 2 hosts (3 new, 1 resolved)',
      'a 1 /usr/bin/java -jar api.jar +0.33%/h, limit in 2h',
      'b 2 /usr/bin/java -jar api.jar +0.33%/h',
      'b 3 /usr/bin/java -jar api.jar +0.33%/h',
    ]);
  });

  it('counts the resolved leaks beyond the cap too', () => {
    const r = report([leak('a', 1)], {
      maxLeaks: 1,
      previous: { id: 'r-1', generatedAtMs: 0, leaks: [leak('x', 1), leak('y', 1), leak('z', 1)] },
    });
    expect(reportSummary(r).split('\n')[0]).toMatch(
      /: 1 process leaks on 1 of 1 host \(1 new, 3 resolved\)$/,
    );
  });

  it('is one line for a quiet fleet', () => {
    expect(reportSummary(report([proc('a', 1), proc('b', 1)]))).toBe(
      'fleetpmap leak report, 24h to 2026-11-24T06:00Z: no process leaks on 2 hosts',
    );
  });

  it('keeps each leak on its own line whatever its command line holds', () => {
    const r = report([leak('a\nb', 1, { cmdline: 'x\r\ny\u2028z', timeToLimitHours: 98 })]);
    expect(reportSummary(r).split('\n')).toEqual([
      'fleetpmap leak report, 24h to 2026-11-24T06:00Z: 1 process leaks on 1 of 1 host',
      'a b 1 x  y z +0.33%/h, limit in 4d2h',
    ]);
  });
});
