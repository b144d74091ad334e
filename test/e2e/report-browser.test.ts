import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildLeakReport, type ReportProcess, renderReportHtml } from '@fleetpmap/analysis';
import { describe, expect, it } from 'vitest';

const CHROMIUM = process.env.FLEETPMAP_TEST_CHROMIUM ?? '/usr/bin/chromium';

function browserMissing(): string | null {
  if (existsSync(CHROMIUM)) return null;
  const reason = `${CHROMIUM} is not installed (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`CI needs: ${reason}`);
  console.log(`skipping the HTML report in a real browser: ${reason}`);
  return reason;
}

const TO = Date.UTC(2026, 10, 24, 6);

/** A leaking process whose names try every way into the page. */
function hostile(host: string, pid: number, cmdline: string): ReportProcess {
  return {
    host,
    pid,
    startTicks: 1,
    comm: 'java',
    cmdline,
    exe: '/usr/bin/java"><svg onload="document.title=\'svg\'">',
    cgroup: null,
    firstSeenMs: TO - 86_400_000,
    startedAtMs: null,
    currentKb: 512_000,
    growthKb: 40_000,
    slopeKbPerHour: 10_000,
    pctPerHour: 2,
    confidence: 0.9,
    leak: true,
    timeToLimitHours: 70,
    limitKb: 16_000_000,
    incarnations: 1,
  };
}

describe.skipIf(browserMissing() !== null)('the HTML report in a real browser', () => {
  it('renders every hostile name as text: no script runs, no element is injected', {
    timeout: 90_000,
  }, async () => {
    const report = buildLeakReport(
      [
        hostile('web-1', 41, `<script>document.title='pwned'</script>`),
        hostile('web-2"><b id="injected">x', 42, `<img src=x onerror="document.title='img'">`),
      ],
      { generatedAtMs: TO, windowMs: 86_400_000, toMs: TO, metric: 'anon' },
    );
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-report-browser-'));
    try {
      const page = join(dir, 'report.html');
      await writeFile(page, renderReportHtml(report, { title: 'fleetpmap leak report 7' }));
      // The DOM after load, as the browser built it and after any script would have run.
      const { stdout: dom } = await promisify(execFile)(
        CHROMIUM,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          `--user-data-dir=${join(dir, 'profile')}`,
          '--dump-dom',
          pathToFileURL(page).href,
        ],
        { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      );
      expect(dom).toContain('<title>fleetpmap leak report 7</title>');
      expect(dom).not.toMatch(/<(script|img|svg|b)\b/);
      // the names are on the page as text, whole
      expect(dom).toContain("&lt;script&gt;document.title='pwned'&lt;/script&gt;");
      expect(dom).toContain('web-2"&gt;&lt;b id="injected"&gt;x');
      // one row per leak in the leaks table, nothing forged
      const leakRows = dom.match(/<tr>\s*<td[^>]*>web-/g) ?? [];
      expect(leakRows).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
