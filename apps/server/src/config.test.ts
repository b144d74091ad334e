import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { variablesRead } from '@fleetpmap/protocol/environment';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SERVER_ENVIRONMENT } from './config.ts';

describe('loadConfig', () => {
  it('takes flags over environment over defaults', () => {
    const env = {
      HOME: '/home/u',
      FLEETPMAP_LISTEN: '0.0.0.0:80',
      FLEETPMAP_DATA_DIR: '/env/dir',
      FLEETPMAP_RETENTION_SAMPLES_DAYS: '3',
    };
    const fromEnv = loadConfig({}, env);
    expect(fromEnv.listen).toEqual({ host: '0.0.0.0', port: 80 });
    expect(fromEnv.dataDir).toBe('/env/dir');
    expect(fromEnv.databaseUrl).toBeUndefined();
    expect(fromEnv.retention).toEqual({ samplesDays: 3 });
    const fromFlags = loadConfig(
      { listen: '[::1]:0', dataDir: '/flag/dir', database: 'postgres://db/x' },
      env,
    );
    expect(fromFlags.listen).toEqual({ host: '::1', port: 0 });
    expect(fromFlags.dataDir).toBe('/flag/dir');
    expect(fromFlags.databaseUrl).toBe('postgres://db/x');
    expect(loadConfig({}, { HOME: '/home/u' }).dataDir).toMatch(/\/\.local\/share\/fleetpmap$/);
  });

  it('reads which windows and metrics get stored verdicts, and refuses nonsense', () => {
    const defaults = loadConfig({}, { HOME: '/home/u' });
    expect(defaults.verdictWindowsMs).toEqual([3_600_000, 21_600_000, 86_400_000, 604_800_000]);
    expect(defaults.verdictMetrics).toEqual(['anon']);
    const set = loadConfig(
      {},
      { FLEETPMAP_VERDICT_WINDOWS: '30m, 2d,30m', FLEETPMAP_VERDICT_METRICS: 'anon,pss' },
    );
    expect(set.verdictWindowsMs).toEqual([1_800_000, 172_800_000]);
    expect(set.verdictMetrics).toEqual(['anon', 'pss']);
    expect(loadConfig({}, { FLEETPMAP_VERDICT_WINDOWS: '' }).verdictWindowsMs).toEqual([]);
    expect(() => loadConfig({}, { FLEETPMAP_VERDICT_WINDOWS: '1w' })).toThrow(
      /verdictWindowsMs: "1w" is not a window/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_VERDICT_WINDOWS: '2m' })).toThrow(/from 5m to 31d/);
    expect(() => loadConfig({}, { FLEETPMAP_VERDICT_WINDOWS: '40d' })).toThrow(/from 5m to 31d/);
    expect(() => loadConfig({}, { FLEETPMAP_VERDICT_METRICS: 'heap,vsz' })).toThrow(
      /verdictMetrics/,
    );
  });

  it('reads the report schedule, its window and webhook, and refuses nonsense', () => {
    expect(loadConfig({}, { HOME: '/home/u' }).report).toEqual({
      schedule: '0 6 * * *',
      timeZone: 'UTC',
      windowMs: 86_400_000,
      metric: 'anon',
      tickMs: 30_000,
    });
    const set = loadConfig(
      {},
      {
        FLEETPMAP_REPORT_SCHEDULE: '30 7 * * 1-5',
        FLEETPMAP_REPORT_TIMEZONE: 'Europe/Berlin',
        FLEETPMAP_REPORT_WINDOW: '7d',
        FLEETPMAP_REPORT_WEBHOOK_URL: 'https://hooks.example/fleet',
        FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE: '/etc/fleetpmap/hook-secret',
      },
    ).report;
    expect(set).toMatchObject({
      schedule: '30 7 * * 1-5',
      timeZone: 'Europe/Berlin',
      windowMs: 604_800_000,
      webhookUrl: 'https://hooks.example/fleet',
    });
    expect(loadConfig({}, { FLEETPMAP_REPORT_SCHEDULE: 'off' }).report.schedule).toBeNull();
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_SCHEDULE: '0 25 * * *' })).toThrow(
      /report\.schedule: "0 25 \* \* \*" is not a cron pattern/,
    );
    // February 30 parses, but no report would ever be made
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_SCHEDULE: '0 6 30 2 *' })).toThrow(
      /report\.schedule: "0 6 30 2 \*" is not a cron pattern or "off" \(it never fires/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_TIMEZONE: 'Mars/Olympus' })).toThrow(
      /report\.timeZone: not an IANA time zone/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_WINDOW: '1h,6h' })).toThrow(/report\.windowMs/);
    expect(() =>
      loadConfig({}, { FLEETPMAP_REPORT_WEBHOOK_URL: 'https://user:pw@hooks.example/' }),
    ).toThrow(/must not carry credentials/);
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_WEBHOOK_URL: 'file:///etc/passwd' })).toThrow(
      /report\.webhookUrl/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_WEBHOOK_SECRET_FILE: '/x' })).toThrow(
      /set FLEETPMAP_REPORT_WEBHOOK_URL too/,
    );
  });

  it('reads the team schedules file, and names what is wrong in it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-config-'));
    try {
      const file = (name: string, content: unknown) => {
        const path = join(dir, name);
        writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
        return { FLEETPMAP_REPORTS_FILE: path };
      };
      const teams = loadConfig(
        {},
        file('ok.json', [
          {
            name: 'web',
            schedule: '0 7 * * 1-5',
            timeZone: 'Europe/Berlin',
            window: '12h',
            hosts: 'web-*',
            labels: { env: 'prod' },
            webhookUrl: 'https://chat.example/web',
          },
          { name: 'db', schedule: '30 6 * * *' },
        ]),
      ).teamReports;
      expect(teams).toEqual([
        {
          name: 'web',
          schedule: '0 7 * * 1-5',
          timeZone: 'Europe/Berlin',
          window: 43_200_000,
          metric: 'anon',
          hosts: 'web-*',
          labels: { env: 'prod' },
          webhookUrl: 'https://chat.example/web',
        },
        { name: 'db', schedule: '30 6 * * *', timeZone: 'UTC', window: 86_400_000, metric: 'anon' },
      ]);
      expect(loadConfig({}, {}).teamReports).toEqual([]);
      const bad = (content: unknown) => () => loadConfig({}, file('bad.json', content));
      expect(bad('{not json')).toThrow(/the reports file .*bad\.json is not JSON/);
      expect(bad([{ name: 'web', schedule: 'off' }])).toThrow(
        /teamReports\.0\.schedule: a cron pattern \(a team schedule is never "off"\)/,
      );
      expect(
        bad([
          { name: 'web', schedule: '0 6 * * *' },
          { name: 'web', schedule: '0 7 * * *' },
        ]),
      ).toThrow(/teamReports\.1\.name: "web" is used twice/);
      expect(bad([{ name: 'manual', schedule: '0 6 * * *' }])).toThrow(/are taken/);
      expect(bad([{ name: 'Web Team', schedule: '0 6 * * *' }])).toThrow(/lower-case letters/);
      expect(bad([{ name: 'w', schedule: '0 6 * * *', webhookSecretFile: '/s' }])).toThrow(
        /needs a webhookUrl of its own/,
      );
      expect(bad([{ name: 'w', schedule: '0 6 * * *', hostz: 'x' }])).toThrow(/teamReports\.0/);
      // A typo in the glob would make a report of no host, every day.
      expect(bad([{ name: 'w', schedule: '0 6 * * *', hosts: 'web-0[12' }])).toThrow(
        /teamReports\.0\.hosts: host glob: "\[" at character 6 is never closed/,
      );
      expect(
        loadConfig(
          {},
          file('glob.json', [{ name: 'w', schedule: '0 6 * * *', hosts: 'web-0[12]' }]),
        ).teamReports[0]?.hosts,
      ).toBe('web-0[12]');
      expect(() => loadConfig({}, { FLEETPMAP_REPORTS_FILE: join(dir, 'absent.json') })).toThrow(
        /cannot read the reports file .*absent\.json: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the bad setting', () => {
    expect(() => loadConfig({ listen: '4680' }, {})).toThrow(ConfigError);
    expect(() => loadConfig({ listen: '127.0.0.1:70000' }, {})).toThrow(/listen/);
    expect(() => loadConfig({ database: 'mysql://x' }, {})).toThrow(/databaseUrl: a postgres:\/\//);
    expect(() => loadConfig({}, { FLEETPMAP_MAX_BODY_BYTES: 'lots' })).toThrow(/maxBodyBytes/);
    // A timer over 2^31 - 1 ms fires after 1 ms: 30 days would run maintenance in a loop.
    expect(() => loadConfig({}, { FLEETPMAP_MAINTENANCE_INTERVAL_MS: '2592000000' })).toThrow(
      /maintenanceIntervalMs: at most 2147483647 ms/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_ROLLUP_INTERVAL_MS: '2592000000' })).toThrow(
      /rollupIntervalMs/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_REPORT_TICK_MS: '1' })).toThrow(/at least 100 ms/);
  });

  it('reads the load limits: bodies in flight, connections, timeouts', () => {
    const defaults = loadConfig({}, { HOME: '/home/u' });
    expect(defaults).toMatchObject({
      maxBodyBytesInFlight: 128 * 1024 * 1024,
      maxConnections: 10_000,
      maxConnectionsPerAddress: 1_000,
      requestTimeoutMs: 60_000,
      bodyIdleTimeoutMs: 15_000,
    });
    // The default follows the per-request limit, so one body at that limit always fits.
    expect(
      loadConfig({}, { FLEETPMAP_MAX_INFLATED_BYTES: String(512 * 1024 * 1024) })
        .maxBodyBytesInFlight,
    ).toBe(1024 * 1024 * 1024);
    const set = loadConfig(
      {},
      {
        FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT: String(64 * 1024 * 1024),
        FLEETPMAP_MAX_CONNECTIONS: '500',
        FLEETPMAP_MAX_CONNECTIONS_PER_ADDRESS: '0',
        FLEETPMAP_REQUEST_TIMEOUT_MS: '30000',
        FLEETPMAP_BODY_IDLE_TIMEOUT_MS: '5000',
      },
    );
    expect(set).toMatchObject({
      maxBodyBytesInFlight: 64 * 1024 * 1024,
      maxConnections: 500,
      maxConnectionsPerAddress: 0,
      requestTimeoutMs: 30_000,
      bodyIdleTimeoutMs: 5_000,
    });
    expect(() =>
      loadConfig({}, { FLEETPMAP_MAX_BODY_BYTES_IN_FLIGHT: String(64 * 1024 * 1024 - 1) }),
    ).toThrow(/maxBodyBytesInFlight: at least FLEETPMAP_MAX_INFLATED_BYTES/);
    expect(() => loadConfig({}, { FLEETPMAP_MAX_CONNECTIONS: '0' })).toThrow(/maxConnections/);
    expect(() => loadConfig({}, { FLEETPMAP_MAX_CONNECTIONS_PER_ADDRESS: '-1' })).toThrow(
      /maxConnectionsPerAddress/,
    );
    expect(() => loadConfig({}, { FLEETPMAP_REQUEST_TIMEOUT_MS: '5000' })).toThrow(
      /requestTimeoutMs: at least 10000 ms/,
    );
  });

  it('reads exactly the FLEETPMAP_ variables of its list', () => {
    expect(variablesRead((env) => loadConfig({}, env))).toEqual([...SERVER_ENVIRONMENT].sort());
  });
});
