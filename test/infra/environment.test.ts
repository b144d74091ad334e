import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../apps/agent/src/config.ts';
import { agentProgram } from '../../apps/agent/src/main.ts';
import { loadConfig } from '../../apps/server/src/config.ts';
import {
  agentContainer,
  type Container,
  composeService,
  containerfileStage,
  environmentOf,
  serverContainer,
  sourcesOf,
} from './deployment-files.ts';

/** What the Secret `fleetpmap-database` holds, for the loader to check. */
const DATABASE_URL = 'postgres://fleetpmap:secret@db.internal:5432/fleetpmap';
/** A token of the shape the server hands out: `fpm_` and 43 base64url characters. */
const TOKEN = `fpm_${'A1b2C3d4E5f6'.repeat(4).slice(0, 43)}`;

/** The server image's own ENV, which the manifests and the compose file build on. */
function serverImageEnvironment(): Record<string, string> {
  return Object.fromEntries(
    containerfileStage('server')
      .instructions.filter((i) => i.getKeyword() === 'ENV')
      .flatMap((i) =>
        (i as unknown as { getProperties(): { getName(): string; getValue(): string }[] })
          .getProperties()
          .map((p) => [p.getName(), p.getValue()]),
      ),
  );
}

const FLEETPMAP = /^FLEETPMAP_/;

const serverEnvironments: [string, Record<string, string>][] = [
  [
    'Kubernetes',
    {
      ...serverImageEnvironment(),
      ...environmentOf(serverContainer(), {
        secrets: { 'fleetpmap-database/url': DATABASE_URL },
      }),
    },
  ],
  ['compose', { ...serverImageEnvironment(), ...composeService('server').environment }],
];

describe('the server’s environment', () => {
  const loaderSource = sourcesOf('apps/server/src');

  it.each(serverEnvironments)(
    '%s: every FLEETPMAP_ variable is one the server reads',
    (_, environment) => {
      const names = Object.keys(environment).filter((n) => FLEETPMAP.test(n));
      expect(names.length).toBeGreaterThan(0);
      // Unknown variables are ignored silently, so a misspelled one would never be noticed.
      for (const name of names) expect(loaderSource, name).toContain(`env.${name}`);
    },
  );

  it.each(serverEnvironments)(
    '%s: the server’s own loader accepts it, with Postgres and listening for other hosts',
    (_, environment) => {
      const config = loadConfig({}, environment);
      expect(config.databaseUrl).toMatch(/^postgres:\/\//);
      expect(config.listen).toEqual({ host: '0.0.0.0', port: 4680 });
      expect(config.dataDir).toBe('/var/lib/fleetpmap-server');
    },
  );
});

describe('the agent’s environment', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-infra-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The environment with every `…_FILE` variable pointing at a file that holds a token. */
  async function withTokenFiles(environment: Record<string, string>) {
    const out = { ...environment };
    for (const name of Object.keys(out).filter((n) => n.endsWith('_FILE'))) {
      out[name] = join(dir, name);
      await writeFile(out[name], `${TOKEN}\n`, { mode: 0o600 });
    }
    return out;
  }

  const agents: [string, Container | undefined, Record<string, string>][] = [
    [
      'Kubernetes',
      agentContainer(),
      environmentOf(agentContainer(), { fields: { 'spec.nodeName': 'node-1.cluster.internal' } }),
    ],
    ['compose', undefined, composeService('agent').environment ?? {}],
  ];

  it.each(agents)('%s: every FLEETPMAP_ variable is one the agent reads', (_, __, environment) => {
    const agentSource = sourcesOf('apps/agent/src');
    const names = Object.keys(environment).filter((n) => FLEETPMAP.test(n));
    expect(names).toContain('FLEETPMAP_TOKEN_FILE');
    // Unknown variables are ignored silently, so a misspelled one would never be noticed.
    for (const name of names) expect(agentSource, name).toContain(`env.${name}`);
  });

  it.each(agents)(
    '%s: the agent’s own loader accepts it and the arguments',
    async (_, container, environment) => {
      const args = container?.args ?? [];
      const flags = agentProgram().exitOverride().parse(args, { from: 'user' }).opts();
      const config = resolveConfig(flags, await withTokenFiles(environment));
      expect(config.token).toBe(TOKEN);
      expect(config.spoolDir).toBe(environment.FLEETPMAP_SPOOL_DIR);
      expect(config.server).toBe(environment.FLEETPMAP_SERVER);
      if (environment.FLEETPMAP_HOST_NAME !== undefined) {
        expect(config.hostName).toBe(environment.FLEETPMAP_HOST_NAME);
      }
      expect(config.spoolMaxBytes).toBe(256 * 1024 * 1024);
    },
  );

  it.each(agents)(
    '%s: on the first start, with no agent token saved yet, the agent is ready to enroll',
    async (_, container, environment) => {
      const args = container?.args ?? [];
      const flags = agentProgram().exitOverride().parse(args, { from: 'user' }).opts();
      const firstStart = await withTokenFiles(environment);
      firstStart.FLEETPMAP_TOKEN_FILE = join(dir, 'state', 'agent-token');
      const config = resolveConfig(flags, firstStart);
      expect(config.token).toBeUndefined();
      expect(config.enrollToken).toBe(TOKEN);
      expect(config.tokenFile).toBe(firstStart.FLEETPMAP_TOKEN_FILE);
    },
  );
});
