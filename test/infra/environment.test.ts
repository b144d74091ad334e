import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ENVIRONMENT, resolveConfig } from '../../apps/agent/src/config.ts';
import { agentProgram } from '../../apps/agent/src/main.ts';
import { loadConfig, SERVER_ENVIRONMENT } from '../../apps/server/src/config.ts';
import { KNOWN_ENVIRONMENT } from '../../packages/protocol/src/environment.ts';
import {
  AGENT_UNIT,
  agentContainer,
  type Container,
  composeProject,
  composeService,
  containerfileStage,
  containerfileStages,
  environmentOf,
  kubernetesObjects,
  podSpecOf,
  REPO_ROOT,
  SERVER_UNIT,
  serverContainer,
  systemdEnvironmentWords,
  unitEnvironment,
} from './deployment-files.ts';

/** What the Secret `fleetpmap-database` holds, for the loader to check. */
const DATABASE_URL = 'postgres://fleetpmap:secret@db.internal:5432/fleetpmap';
/** A token of the shape the server hands out: `fpm_` and 43 base64url characters. */
const TOKEN = `fpm_${'A1b2C3d4E5f6'.repeat(4).slice(0, 43)}`;

type Stage = ReturnType<typeof containerfileStage>;

/** A build stage's own ENV. */
function stageEnvironment(stage: Stage): Record<string, string> {
  return Object.fromEntries(
    stage.instructions
      .filter((i) => i.getKeyword() === 'ENV')
      .flatMap((i) =>
        (i as unknown as { getProperties(): { getName(): string; getValue(): string }[] })
          .getProperties()
          .map((p) => [p.getName(), p.getValue()]),
      ),
  );
}

/** The server image's own ENV, which the manifests and the compose file build on. */
function serverImageEnvironment(): Record<string, string> {
  return stageEnvironment(containerfileStage('server'));
}

const FLEETPMAP = /^FLEETPMAP_/;

/**
 * What each program reads, by its own list (the one its loader reads through). Places that run
 * neither, such as a build stage, may set only names some fleetpmap program or tool reads.
 */
const READS = {
  'fleetpmap-server': SERVER_ENVIRONMENT,
  'fleetpmap-agent': AGENT_ENVIRONMENT,
  'some fleetpmap program': KNOWN_ENVIRONMENT,
} as const satisfies Record<string, readonly string[]>;
type Program = keyof typeof READS;

/**
 * The FLEETPMAP_ names among `names` that `program` does not read, compared whole: a program
 * ignores a variable it does not read, so a misspelt one would never be noticed.
 */
function unread(names: Iterable<string>, program: Program): string[] {
  const list: readonly string[] = READS[program];
  return [...names].filter((n) => FLEETPMAP.test(n) && !list.includes(n)).sort();
}

const containerNames = (c: Container) => (c.env ?? []).map((v) => v.name);

/** Every place in infra/ that sets variables, with the program that runs there and the names. */
function placesSettingVariables(): [string, Program, string[]][] {
  /** What runs in a place named `server` or `agent` (a compose service, a build stage). */
  const programNamed = (name: string | null): Program =>
    name === 'server' || name === 'agent' ? `fleetpmap-${name}` : 'some fleetpmap program';
  const places: [string, Program, string[]][] = [];
  for (const { file, object } of kubernetesObjects()) {
    if (!object.spec?.template) continue;
    const program: Program =
      object.kind === 'Deployment' && object.metadata.name === 'fleetpmap-server'
        ? 'fleetpmap-server'
        : object.kind === 'DaemonSet' && object.metadata.name === 'fleetpmap-agent'
          ? 'fleetpmap-agent'
          : 'some fleetpmap program';
    const spec = podSpecOf(object);
    for (const c of spec.containers) {
      places.push([`infra/kubernetes/${file}, container ${c.name}`, program, containerNames(c)]);
    }
    for (const c of spec.initContainers ?? []) {
      places.push([
        `infra/kubernetes/${file}, init container ${c.name}`,
        'some fleetpmap program',
        containerNames(c),
      ]);
    }
  }
  for (const [name, service] of Object.entries(composeProject().services)) {
    places.push([
      `compose.yaml, service ${name}`,
      programNamed(name),
      Object.keys(service.environment ?? {}),
    ]);
  }
  for (const stage of containerfileStages()) {
    places.push([
      `Containerfile, stage ${stage.name ?? stage.base}`,
      programNamed(stage.name),
      Object.keys(stageEnvironment(stage)),
    ]);
  }
  for (const [unit, program] of [
    [SERVER_UNIT, 'fleetpmap-server'],
    [AGENT_UNIT, 'fleetpmap-agent'],
  ] as const) {
    places.push([basename(unit), program, unitEnvironment(unit).map((v) => v.name)]);
  }
  return places;
}

describe('the FLEETPMAP_ variables of the deployment files', () => {
  const places = placesSettingVariables();

  it.each(places)('%s: each FLEETPMAP_ name is one %s reads', (_, program, names) => {
    expect(unread(names, program)).toEqual([]);
  });

  it('are found where the programs are configured', () => {
    const found = (place: string) =>
      places.find(([p]) => p.endsWith(place))?.[2].filter((n) => FLEETPMAP.test(n)) ?? [];
    for (const place of [
      'container server',
      'container agent',
      'service server',
      'service agent',
      'stage server',
      'fleetpmap-server.service',
      'fleetpmap-agent.service',
    ]) {
      expect(found(place), place).not.toEqual([]);
    }
    expect(found('fleetpmap-agent.service')).toContain('FLEETPMAP_TOKEN_FILE');
  });

  it('a misspelt name is caught, however close to a real one', () => {
    const container = serverContainer();
    const misspelt: Container = {
      ...container,
      env: [
        ...(container.env ?? []),
        { name: 'FLEETPMAP_RETENTION_SAMPLES_DAY', value: '3' },
        { name: 'FLEETPMAP_MAX_CONNECTIONS_PER_ADDR', value: '0' },
        { name: 'FLEETPMAP_RETENTION_SAMPLES_DAYS', value: '3' },
      ],
    };
    expect(unread(containerNames(misspelt), 'fleetpmap-server')).toEqual([
      'FLEETPMAP_MAX_CONNECTIONS_PER_ADDR',
      'FLEETPMAP_RETENTION_SAMPLES_DAY',
    ]);
    // Names of another program are not read either: the agent's token file is no server setting.
    expect(unread(['FLEETPMAP_TOKEN_FILE', 'FLEETPMAP_LISTEN'], 'fleetpmap-server')).toEqual([
      'FLEETPMAP_TOKEN_FILE',
    ]);
  });

  it('systemd units are read as systemd reads them: quoted words, commented examples', async () => {
    expect(systemdEnvironmentWords(`A=1 "B=two words" 'C=\\x' D=e\\ f`)).toEqual([
      'A=1',
      'B=two words',
      'C=\\x',
      'D=e f',
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-unit-'));
    try {
      const unit = join(dir, 'fleetpmap-agent.service');
      await writeFile(
        unit,
        [
          '# in /etc/fleetpmap/agent.env:',
          '#   FLEETPMAP_SPOOLDIR=/var/spool/fleetpmap',
          '[Service]',
          'Environment="FLEETPMAP_SERVER=https://s:4680" FLEETPMAP_TOKENFILE=%d/agent-token',
          '#Environment=FLEETPMAP_ENROL_TOKEN_FILE=%d/enroll-token',
          '',
        ].join('\n'),
      );
      expect(
        unread(
          unitEnvironment(unit).map((v) => v.name),
          'fleetpmap-agent',
        ),
      ).toEqual(['FLEETPMAP_ENROL_TOKEN_FILE', 'FLEETPMAP_SPOOLDIR', 'FLEETPMAP_TOKENFILE']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Where the repository's own text may name variables: sources, docs, deployment files. */
function repositoryTexts(dir = REPO_ROOT): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (
        !['node_modules', '.git', 'dist', 'fixtures', '.turbo', 'coverage'].includes(entry.name)
      ) {
        files.push(...repositoryTexts(path));
      }
    } else if (
      /\.(ts|js|mjs|md|ya?ml|json|service|sh)$|^Containerfile$/.test(entry.name) &&
      // Tests name misspelt variables on purpose, to show they are caught.
      !entry.name.endsWith('.test.ts') &&
      entry.name !== 'package-lock.json'
    ) {
      files.push(path);
    } else if (path === join(REPO_ROOT, '.ci', 'run')) {
      files.push(path);
    }
  }
  return files;
}

/**
 * What Kubernetes' service links would add from the Service fleetpmap-server: the manifests turn
 * them off, and their comments say why. Any program that saw it would rightly warn of it.
 */
const NAMED_AS_UNKNOWN = new Set(['FLEETPMAP_SERVER_PORT']);

describe('the FLEETPMAP_ names the repository mentions', () => {
  it('are each one some fleetpmap program or tool reads (prefixes such as FLEETPMAP_SERVER_* aside)', () => {
    const known = new Set(KNOWN_ENVIRONMENT);
    const unknown: string[] = [];
    for (const file of repositoryTexts()) {
      const text = readFileSync(file, 'utf8');
      for (const [name] of text.matchAll(
        /(?<![A-Za-z0-9_])FLEETPMAP_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*])/g,
      )) {
        if (!known.has(name) && !NAMED_AS_UNKNOWN.has(name)) {
          unknown.push(`${file.slice(REPO_ROOT.length)}: ${name}`);
        }
      }
    }
    expect(unknown).toEqual([]);
  });
});

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
