import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rollupAggregates } from '@fleetpmap/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anonProcess, hostSnapshots } from '../queries/one-host.ts';
import { fleetpmap } from '../support/cli.ts';
import { until } from '../support/until.ts';
import { oneDriver, startTestServer, useTestServer } from './harness.ts';

const SECRET = 'webhook-secret-for-the-cli-test';
const HOSTILE = '<script>alert(1)</script> --flag | `x`';

type Received = { headers: IncomingHttpHeaders; body: string };

// Set up before the server starts: the server reads the webhook and its secret file at start.
const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-report-cli-'));
const secretFile = join(dir, 'hook-secret');
await writeFile(secretFile, `${SECRET}\n`);
await chmod(secretFile, 0o600);
const received: Received[] = [];
const receiver: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => {
    body += c.toString();
  });
  req.on('end', () => {
    received.push({ headers: req.headers, body });
    res.writeHead(200).end();
  });
});
receiver.listen(0, '127.0.0.1');
await once(receiver, 'listening');
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/fleet`;

afterAll(async () => {
  receiver.close();
  await rm(dir, { recursive: true, force: true });
});

describe('fleetpmap report against a real server with a webhook', () => {
  const t = useTestServer(oneDriver(), {
    env: {
      FLEETPMAP_REPORT_WEBHOOK_URL: hookUrl,
      FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE: secretFile,
      FLEETPMAP_REPORT_TICK_MS: '200',
    },
  });
  let admin: string[];
  let reader: string[];

  beforeAll(async () => {
    admin = ['--server', t.url, '--token', t.adminToken];
    const client = t.client(t.adminToken);
    reader = [
      '--server',
      t.url,
      '--token',
      (await client.token.create.mutate({ role: 'reader' })).token,
    ];
    // Eight hours of one host, pushed through the API: one process leaks 3 %/h under a hostile
    // command line, one stays flat.
    const endMs = Date.now() - 60_000;
    for (const s of hostSnapshots('web-07', endMs, 8, (i) => [
      { ...anonProcess(700, 'leaky', 200_000 * (1 + 0.03 * (i / 12))), cmdline: HOSTILE },
      anonProcess(800, 'steady', 300_000),
    ])) {
      await client.snapshot.push.mutate(s);
    }
    // The server's own rollup, without its 30-second settling wait.
    await rollupAggregates(t.server.database.handle.db, { settleMs: 0 });
  }, 120_000);

  it('has nothing to show before the first report', async () => {
    const listed = await fleetpmap(['report', 'list', ...reader]);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(/^no reports yet/);
    const shown = await fleetpmap(['report', 'show', ...reader]);
    expect(shown.code).toBe(1);
    expect(shown.stderr).toBe('fleetpmap: server answered 404: no report has been made yet\n');
  });

  it('makes a report on demand for admins only, prints it, and delivers it signed', {
    timeout: 60_000,
  }, async () => {
    const refused = await fleetpmap(['report', 'run', '--window', '6h', '--deliver', ...reader]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^fleetpmap: server answered 403: /);

    const made = await fleetpmap([
      'report',
      'run',
      '--window',
      '6h',
      '--deliver',
      '--format',
      'md',
      ...admin,
    ]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/^report \d+ is queued for the webhook; /);
    const id = Number(/^# fleetpmap leak report (\d+)$/m.exec(made.stdout)?.[1]);
    expect(id).toBeGreaterThan(0);
    expect(made.stdout).toMatch(/1 process leaks on 1 of 1 host/);
    const leakRow = made.stdout.split('\n').find((l) => l.startsWith('| web-07 | 700 |'));
    expect(leakRow).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(made.stdout).not.toContain('<script>');
    expect(made.stdout).not.toMatch(/^\| web-07 \| 800 \|/m);

    await until('the webhook delivery', () => received.length > 0, 15_000);
    expect(received).toHaveLength(1);
    const [delivery] = received;
    const sig = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(
      String(delivery?.headers['x-fleetpmap-signature']),
    );
    expect(sig?.[2]).toBe(
      createHmac('sha256', SECRET).update(`${sig?.[1]}.${delivery?.body}`).digest('hex'),
    );
    expect(Math.abs(Number(sig?.[1]) - Date.now() / 1000)).toBeLessThan(120);
    const payload = JSON.parse(delivery?.body ?? '{}');
    expect(payload).toMatchObject({ id, report: { fleet: { leakingProcesses: 1, processes: 2 } } });

    // The receiver has answered; the server records the delivery just after.
    let listed: { delivery: string }[] = [];
    await until(
      'the delivery to be recorded',
      async () => {
        listed = JSON.parse((await fleetpmap(['report', 'list', '--json', ...reader])).stdout);
        return listed[0]?.delivery !== 'pending';
      },
      15_000,
    );
    expect(listed).toMatchObject([
      { id, schedule: 'manual', state: 'done', leakingProcesses: 1, delivery: 'delivered' },
    ]);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^fleetpmap_report_deliveries_total\{outcome="delivered"\} 1$/m);
    expect(metrics).not.toMatch(/^fleetpmap_report_deliveries_total\{outcome="failed"\} [1-9]/m);
    const table = await fleetpmap(['report', 'list', ...reader]);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${id}\\s+manual\\s+all hosts\\s+done\\s+\\S+Z\\s+6h\\s+1/2\\s+1/1\\s+-\\s+delivered$`,
        'm',
      ),
    );
  });

  it('makes a report of some hosts only, compared only with reports of the same hosts', async () => {
    const none = await fleetpmap(['report', 'run', '--window', '6h', '--host', 'db-*', ...admin]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toMatch(/^fleetpmap leak report \d+ \(manual; hosts db-\*\), 6h of anon/);
    expect(none.stdout).toContain('no process leaks on 0 hosts (0 processes watched)');
    // the earlier whole-fleet report is no predecessor of a report of the web hosts
    const web = ['report', 'run', '--window', '6h', '--host', 'web-0?', '--format', 'json'];
    const first = JSON.parse((await fleetpmap([...web, ...admin])).stdout);
    expect(first).toMatchObject({
      scope: { hostGlob: 'web-0?', labels: null },
      fleet: { hosts: 1, leakingProcesses: 1 },
      changes: null,
    });
    const second = JSON.parse((await fleetpmap([...web, ...admin])).stdout);
    expect(second.changes).toMatchObject({ newLeaks: 0, continuingLeaks: 1 });
    const listed = await fleetpmap(['report', 'list', '--json', '--limit', '3', ...reader]);
    expect(JSON.parse(listed.stdout).map((r: { scope: unknown }) => r.scope)).toEqual([
      { hostGlob: 'web-0?', labels: null },
      { hostGlob: 'web-0?', labels: null },
      { hostGlob: 'db-*', labels: null },
    ]);
    // one schedule's reports, and its newest
    const manual = JSON.parse(
      (await fleetpmap(['report', 'list', '--schedule', 'manual', '--json', ...reader])).stdout,
    );
    expect(manual.length).toBeGreaterThanOrEqual(4);
    expect(manual.every((r: { schedule: string }) => r.schedule === 'manual')).toBe(true);
    const webList = await fleetpmap(['report', 'list', '--schedule', 'web', '--json', ...reader]);
    expect(JSON.parse(webList.stdout)).toEqual([]);
    const noWeb = await fleetpmap(['report', 'show', '--schedule', 'web', ...reader]);
    expect(noWeb.stderr).toBe(
      'fleetpmap: server answered 404: no report of schedule web has been made yet\n',
    );
    const newest = await fleetpmap(['report', 'show', '--schedule', 'manual', '--json', ...reader]);
    expect(JSON.parse(newest.stdout).id).toBe(manual[0].id);
    const both = await fleetpmap(['report', 'show', '3', '--schedule', 'manual', ...reader]);
    expect(both.stderr).toBe('fleetpmap: give a report id or --schedule, not both\n');

    const badLabel = await fleetpmap(['report', 'run', '--label', 'env', ...admin]);
    expect(badLabel.code).toBe(1);
    expect(badLabel.stderr).toMatch(/--label "env": expected KEY=VALUE/);
  });

  it('shows a stored report as HTML in a file and as JSON, and refuses unknown ids', async () => {
    const file = join(dir, 'report.html');
    const html = await fleetpmap(['report', 'show', '--format', 'html', '-o', file, ...reader]);
    expect(html.code, html.stderr).toBe(0);
    expect(html.stdout).toBe('');
    expect(html.stderr).toMatch(/^report \d+ written to .*report\.html\n$/);
    const page = await readFile(file, 'utf8');
    expect(page).toMatch(/^<!doctype html>/i);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).not.toContain('<script>');

    // as text for a terminal, by default: the hostile command line's characters are harmless
    const text = await fleetpmap(['report', 'show', ...reader]);
    // (the newest report is the last of the web hosts' above)
    expect(text.stdout).toMatch(
      /^fleetpmap leak report \d+ \(manual; hosts web-0\?\), 6h of anon to /,
    );
    expect(text.stdout).toMatch(/^web-07\s+700\s+<script>alert\(1\)<\/script> --flag \| `x`\s/m);

    const json = await fleetpmap(['report', 'show', 'latest', '--json', ...reader]);
    const stored = JSON.parse(json.stdout);
    expect(stored.report.leaks.map((l: { cmdline: string }) => l.cmdline)).toEqual([HOSTILE]);

    const missing = await fleetpmap(['report', 'show', '99999', ...reader]);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('fleetpmap: server answered 404: no report with id 99999\n');
    const bad = await fleetpmap(['report', 'show', 'yesterday', ...reader]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/report id "yesterday": expected a number/);
  });
});

describe('a webhook secret the server cannot use', () => {
  it('stops the server at start with the reason, not at the first delivery', async () => {
    const env = (file: string) => ({
      FLEETPMAP_REPORT_WEBHOOK_URL: hookUrl,
      FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE: file,
    });
    await expect(startTestServer({ name: 'pglite' }, env(join(dir, 'absent')))).rejects.toThrow(
      /cannot read the webhook secret file .*absent: ENOENT/,
    );
    const short = join(dir, 'short-secret');
    await writeFile(short, 'hunter2\n', { mode: 0o600 });
    await expect(startTestServer({ name: 'pglite' }, env(short))).rejects.toThrow(
      /shorter than 16 characters/,
    );
  });
});
