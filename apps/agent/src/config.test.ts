import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { variablesRead } from '@fleetpmap/protocol/environment';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AGENT_ENVIRONMENT,
  ConfigError,
  checkLocalPaths,
  parseBytes,
  parseDurationMs,
  resolveConfig,
} from './config.ts';

describe('agent configuration', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-agent-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('has the documented defaults', () => {
    const c = resolveConfig({ output: '-' }, { HOME: dir });
    expect(c).toMatchObject({
      hostName: hostname(),
      procRoot: '/proc',
      cheapIntervalMs: 30_000,
      rollupIntervalMs: 300_000,
      fullIntervalMs: 900_000,
      spoolDir: join(dir, '.fleetpmap', 'agent-spool'),
      spoolMaxBytes: 256 * 1024 * 1024,
      retryMaxDelayMs: 300_000,
      labels: {},
    });
    expect(resolveConfig({ output: '-', retryMaxDelay: '5s' }, { HOME: dir }).retryMaxDelayMs).toBe(
      5000,
    );
    expect(() => resolveConfig({ output: '-', retryMaxDelay: '10ms' }, { HOME: dir })).toThrow(
      ConfigError,
    );
    expect(resolveConfig({ output: '-' }, { STATE_DIRECTORY: '/var/lib/a' }).spoolDir).toBe(
      '/var/lib/a/spool',
    );
  });

  it('takes flags over the environment over the config file', async () => {
    const file = join(dir, 'agent.json');
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, 'from-file\n');
    await writeFile(
      file,
      JSON.stringify({
        server: 'http://file:1',
        hostName: 'file-host',
        cheapIntervalMs: 1000,
        labels: { env: 'file' },
        tokenFile,
      }),
    );
    const env = { FLEETPMAP_SERVER: 'http://env:2', FLEETPMAP_HOST_NAME: 'env-host' };
    const fromFile = resolveConfig({ config: file }, {});
    expect(fromFile).toMatchObject({
      server: 'http://file:1',
      hostName: 'file-host',
      token: 'from-file',
    });
    expect(fromFile.cheapIntervalMs).toBe(1000);
    const fromEnv = resolveConfig({ config: file }, { ...env, FLEETPMAP_TOKEN: 'from-env' });
    expect(fromEnv).toMatchObject({
      server: 'http://env:2',
      hostName: 'env-host',
      token: 'from-env',
    });
    const flagToken = join(dir, 'flag-token');
    await writeFile(flagToken, 'from-flag');
    const fromFlags = resolveConfig(
      {
        config: file,
        server: 'http://flag:3',
        hostName: 'flag-host',
        tokenFile: flagToken,
        label: ['env=prod', 'team=a=b'],
        cheapInterval: '10s',
      },
      env,
    );
    expect(fromFlags).toMatchObject({
      server: 'http://flag:3',
      hostName: 'flag-host',
      token: 'from-flag',
      labels: { env: 'prod', team: 'a=b' },
      cheapIntervalMs: 10_000,
    });
  });

  it('enrolls only while the agent token file is missing, and saves it in the state directory', async () => {
    const enrollFile = join(dir, 'enroll');
    await writeFile(enrollFile, 'fpm_enroll\n');
    const env = { FLEETPMAP_ENROLL_TOKEN_FILE: enrollFile, STATE_DIRECTORY: join(dir, 'state') };
    // No token yet: the agent will enroll and keep its token beside the spool.
    const first = resolveConfig({ output: '-' }, env);
    expect(first).toMatchObject({
      enrollToken: 'fpm_enroll',
      tokenFile: join(dir, 'state', 'agent-token'),
    });
    expect(first.token).toBeUndefined();
    // A named token file that does not exist yet is where the enrolled token will go…
    const named = join(dir, 'agent-token');
    expect(resolveConfig({ output: '-', tokenFile: named }, env)).toMatchObject({
      tokenFile: named,
    });
    // …and once it holds a token, that token is used and enrollment is not needed.
    await writeFile(named, 'fpm_agent\n');
    expect(resolveConfig({ output: '-', tokenFile: named }, env)).toMatchObject({
      token: 'fpm_agent',
      tokenFile: named,
    });
    // Without an enroll token a missing token file is still an error, and so is a missing enroll file.
    expect(() => resolveConfig({ output: '-', tokenFile: join(dir, 'none') }, {})).toThrow(
      /cannot read token file/,
    );
    expect(() => resolveConfig({ output: '-', enrollTokenFile: join(dir, 'none') }, {})).toThrow(
      /cannot read enroll token file/,
    );
  });

  it('takes a token file named in the environment over a token in the config file', async () => {
    const file = join(dir, 'with-token.json');
    await writeFile(file, JSON.stringify({ output: '-', token: 'from-config' }));
    const envToken = join(dir, 'env-token');
    await writeFile(envToken, 'from-env-file\n');
    expect(resolveConfig({ config: file }, {}).token).toBe('from-config');
    expect(resolveConfig({ config: file }, { FLEETPMAP_TOKEN_FILE: envToken }).token).toBe(
      'from-env-file',
    );
  });

  it('refuses what it cannot use, naming the setting', () => {
    expect(() => resolveConfig({}, {})).toThrow(/no server/);
    expect(() => resolveConfig({ server: 'ftp://x' }, {})).toThrow(ConfigError);
    expect(() => resolveConfig({ output: '-', hostName: 'a b' }, {})).toThrow(/hostName/);
    expect(() => resolveConfig({ output: '-', label: ['novalue'] }, {})).toThrow(/k=v/);
    expect(() => resolveConfig({ output: '-', label: ['__proto__=x'] }, {})).toThrow(
      /invalid labels: __proto__/,
    );
    expect(() => resolveConfig({ output: '-', cheapInterval: 'soon' }, {})).toThrow(/duration/);
    expect(() => resolveConfig({ output: '-', tokenFile: join(dir, 'missing') }, {})).toThrow(
      /cannot read token file/,
    );
  });

  it('refuses config file values of the wrong type, out of range, or unknown', async () => {
    const file = join(dir, 'agent.json');
    const load = async (body: object) => {
      await writeFile(file, JSON.stringify({ output: '-', ...body }));
      return () => resolveConfig({ config: file }, {});
    };
    expect(await load({ cheapIntervalMs: '30s' })).toThrow(/invalid cheapIntervalMs/);
    expect(await load({ cheapIntervalMs: 0 })).toThrow(/invalid cheapIntervalMs/);
    expect(await load({ maxBackoffLevel: 17 })).toThrow(/invalid maxBackoffLevel/);
    expect(await load({ maxBodyBytes: 1000 })).toThrow(/invalid maxBodyBytes/);
    expect(await load({ labels: { '1x': 'a' } })).toThrow(/invalid labels: 1x/);
    // the server refuses it; an agent started with it would push nothing
    expect(await load(JSON.parse('{"labels":{"__proto__":"a"}}'))).toThrow(
      /invalid labels: __proto__/,
    );
    expect(await load({ logLevel: 'loud' })).toThrow(/invalid logLevel/);
    expect(await load({ server: 'http://' })).toThrow(/invalid server/);
    expect(await load({ cheapIntervalMS: 1000 })).toThrow(/invalid cheapIntervalMS: unknown/);
    expect((await load({ readBudgetMs: 0.5, once: true }))()).toMatchObject({
      readBudgetMs: 0.5,
      once: true,
    });
  });

  it('reads durations and sizes with units', () => {
    expect(parseDurationMs('30s')).toBe(30_000);
    expect(parseDurationMs('5m')).toBe(300_000);
    expect(parseDurationMs('250ms')).toBe(250);
    expect(parseDurationMs('1500')).toBe(1500);
    expect(parseBytes('256M')).toBe(256 * 1024 * 1024);
    expect(parseBytes('1g')).toBe(1024 ** 3);
    expect(() => parseBytes('12 parsecs')).toThrow(ConfigError);
  });

  it('takes the protocol’s limits on labels and the body size', () => {
    const labels = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v`);
    expect(Object.keys(resolveConfig({ output: '-', label: labels(64) }, {}).labels)).toHaveLength(
      64,
    );
    expect(() => resolveConfig({ output: '-', label: labels(65) }, {})).toThrow(
      'invalid labels: at most 64 labels, got 65',
    );
    expect(() => resolveConfig({ output: '-', label: [`k=${'v'.repeat(256)}`] }, {})).toThrow(
      /invalid labels: k: must be at most 255/,
    );
    expect(resolveConfig({ output: '-', maxBodyBytes: '16M' }, {}).maxBodyBytes).toBe(16 << 20);
    expect(() => resolveConfig({ output: '-', maxBodyBytes: '64M' }, {})).toThrow(
      /invalid maxBodyBytes: must be <= 16777216/,
    );
  });

  it('wants a token, or an enroll token, to push', async () => {
    const server = 'http://127.0.0.1:4680';
    expect(() => resolveConfig({ server }, {})).toThrow(/no token/);
    expect(resolveConfig({ server }, { FLEETPMAP_TOKEN: 't' }).token).toBe('t');
    expect(resolveConfig({ server, output: '-' }, {}).token).toBeUndefined();
    const enroll = join(dir, 'enroll');
    await writeFile(enroll, 'fpm_enroll\n', { mode: 0o600 });
    expect(
      resolveConfig({ server, enrollTokenFile: enroll }, { STATE_DIRECTORY: dir }).enrollToken,
    ).toBe('fpm_enroll');
  });

  it('warns of token files open to others, not of private ones', async () => {
    const open = join(dir, 'open');
    const closed = join(dir, 'closed');
    await writeFile(open, 'fpm_a\n', { mode: 0o644 });
    await writeFile(closed, 'fpm_b\n', { mode: 0o600 });
    const warnings: string[] = [];
    expect(resolveConfig({ output: '-', tokenFile: closed }, {}, warnings).token).toBe('fpm_b');
    expect(warnings).toEqual([]);
    expect(resolveConfig({ output: '-', tokenFile: open }, {}, warnings).token).toBe('fpm_a');
    expect(warnings).toEqual([
      `token file ${open} is open to group or others (mode 0644): anyone who can read it can ` +
        `use the token; chmod 600 ${open}`,
    ]);
  });

  it('checks the proc root and the output file at start', async () => {
    const cfg = resolveConfig({ output: join(dir, 'out.json') }, {});
    expect(() => checkLocalPaths(cfg)).not.toThrow();
    expect(() => checkLocalPaths({ ...cfg, procRoot: join(dir, 'none') })).toThrow(
      /invalid procRoot: cannot read/,
    );
    expect(() => checkLocalPaths({ ...cfg, output: join(dir, 'no', 'out.json') })).toThrow(
      /invalid output: cannot write/,
    );
    expect(() => checkLocalPaths({ ...cfg, output: dir })).toThrow(/invalid output/);
  });

  it('warns of a variable set but empty, and takes the default for it', () => {
    const warnings: string[] = [];
    const c = resolveConfig(
      { output: '-' },
      { HOME: dir, FLEETPMAP_SPOOL_DIR: '', FLEETPMAP_HOST_NAME: '' },
      warnings,
    );
    expect(c.hostName).toBe(hostname());
    expect(warnings).toEqual([
      'FLEETPMAP_HOST_NAME is set but empty: ignored, as if not set',
      'FLEETPMAP_SPOOL_DIR is set but empty: ignored, as if not set',
    ]);
  });

  it('reads exactly the FLEETPMAP_ variables of its list', () => {
    expect(() => resolveConfig({}, {})).toThrow(/no server/);
    expect(variablesRead((env) => resolveConfig({}, env))).toEqual([...AGENT_ENVIRONMENT].sort());
  });
});
