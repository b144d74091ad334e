import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  AGENT_UNIT,
  COMPOSE_FILE,
  CONTAINERFILE,
  composeProject,
  composeService,
  containerfileStages,
  SERVER_UNIT,
  serverService,
  unitCapabilities,
} from './deployment-files.ts';

/**
 * The Compose specification's JSON schema (compose-spec/compose-spec, schema/compose-spec.json),
 * as the dclint package ships it: it is current with Docker Compose (`uts`, `models`, …).
 */
function composeSchema(): object {
  const dclint = dirname(createRequire(import.meta.url).resolve('dclint/package.json'));
  return JSON.parse(readFileSync(join(dclint, 'schemas', 'compose.schema.json'), 'utf8'));
}

describe('compose.yaml', () => {
  it('validates against the Compose specification', () => {
    // The schema names draft-07 by an https URL that Ajv does not hold; it is draft-07 all the same.
    const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
    const validate = ajv.compile(composeSchema());
    const valid = validate(composeProject());
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('builds the server and the agent from the Containerfile’s targets', () => {
    const stages = containerfileStages().map((s) => s.name);
    for (const [service, target] of [
      ['server', 'server'],
      ['agent', 'agent'],
    ] as const) {
      const { build } = composeService(service);
      expect(resolve(dirname(COMPOSE_FILE), build?.context ?? '', build?.dockerfile ?? '')).toBe(
        CONTAINERFILE,
      );
      expect(build?.target).toBe(target);
      expect(stages).toContain(target);
    }
  });

  it('starts the server once Postgres is healthy, with Postgres’s data in a named volume', () => {
    const postgres = composeService('postgres');
    expect(postgres.image).toMatch(/^postgres:1[56]$/);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
    const [volume] = postgres.volumes ?? [];
    expect(volume?.split(':')[1]).toBe('/var/lib/postgresql/data');
    expect(Object.keys(composeProject().volumes ?? {})).toContain(volume?.split(':')[0]);
    const server = composeService('server');
    expect(server.depends_on?.postgres).toEqual({ condition: 'service_healthy' });
    const url = new URL(server.environment?.FLEETPMAP_DATABASE_URL ?? '');
    expect(url.hostname).toBe('postgres');
    const env = postgres as { environment?: Record<string, string> };
    expect(decodeURIComponent(url.username)).toBe(env.environment?.POSTGRES_USER);
    expect(decodeURIComponent(url.password)).toBe(env.environment?.POSTGRES_PASSWORD);
    expect(url.pathname).toBe(`/${env.environment?.POSTGRES_DB}`);
  });

  it('runs the server with no capability, a read-only root and its data directory in a volume', () => {
    const server = composeService('server');
    expect(unitCapabilities(SERVER_UNIT, 'CapabilityBoundingSet')).toEqual([]);
    expect(server.cap_drop).toEqual(['ALL']);
    expect(server.cap_add ?? []).toEqual([]);
    expect(server.read_only).toBe(true);
    expect(server.privileged).not.toBe(true);
    expect(server.user ?? '').not.toMatch(/^(0|root)(:|$)/);
    const dataDir = server.environment?.FLEETPMAP_DATA_DIR;
    expect(server.volumes?.map((v) => v.split(':')[1])).toContain(dataDir);
  });

  it('publishes the server on its Kubernetes port, to this machine only', () => {
    const port = serverService().spec?.ports?.[0]?.port;
    expect(composeService('server').ports).toEqual([`127.0.0.1:${port}:${port}`]);
    expect(composeService('server').environment?.FLEETPMAP_LISTEN).toBe(`0.0.0.0:${port}`);
  });

  it('gives the agent the host’s processes and exactly the systemd unit’s capabilities', () => {
    const agent = composeService('agent');
    expect(agent.pid).toBe('host');
    // In a cgroup namespace of its own, the processes' memory cgroups (and their limits, which
    // time to limit runs to) would lie outside what the agent can see.
    expect(agent.cgroup).toBe('host');
    expect(agent.cap_drop).toEqual(['ALL']);
    expect(agent.cap_add).toEqual(['SYS_PTRACE']);
    expect(unitCapabilities(AGENT_UNIT, 'CapabilityBoundingSet')).toEqual(['SYS_PTRACE']);
    expect(agent.read_only).toBe(true);
    expect(agent.privileged).not.toBe(true);
    expect(agent.security_opt).toContain('no-new-privileges:true');
  });

  it('hands the agent its enrollment token as a secret and keeps its own token in a volume', () => {
    const agent = composeService('agent');
    const env = agent.environment ?? {};
    const [secret] = agent.secrets ?? [];
    const secretName = typeof secret === 'string' ? secret : secret?.source;
    expect(env.FLEETPMAP_ENROLL_TOKEN_FILE).toBe(`/run/secrets/${secretName}`);
    expect(composeProject().secrets?.[secretName ?? '']?.file).toBe('./secrets/enroll-token');
    const state = agent.volumes?.map((v) => v.split(':')) ?? [];
    for (const name of ['FLEETPMAP_TOKEN_FILE', 'FLEETPMAP_SPOOL_DIR']) {
      const path = env[name] ?? '';
      const holder = state.find(([, mountPath]) => path.startsWith(`${mountPath}/`));
      expect(holder, name).toBeDefined();
      expect(Object.keys(composeProject().volumes ?? {}), name).toContain(holder?.[0]);
    }
  });

  it('points the agent at the server service', () => {
    const server = new URL(composeService('agent').environment?.FLEETPMAP_SERVER ?? '');
    expect(server.hostname).toBe('server');
    expect(server.port).toBe(composeService('server').environment?.FLEETPMAP_LISTEN?.split(':')[1]);
  });
});
