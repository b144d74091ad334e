import { existsSync, readdirSync, readFileSync } from 'node:fs';
import dockerignoreModule from '@balena/dockerignore';
import type { Copy } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { PRODUCTION_FLAGS } from '../../apps/agent/scripts/production-flags.ts';
import {
  AGENT_UNIT,
  agentContainer,
  CONTAINERFILE,
  containerfileStage,
  containerfileStages,
  IMAGE_REPO_ROOT,
  podSpecOf,
  repoPath,
  serverContainer,
  serverDeployment,
  systemdDirectives,
  wordsOf,
} from './deployment-files.ts';

// A CommonJS module whose types declare only a default export; it sets `default` on itself too.
const ignore = dockerignoreModule.default;

const rootPackage = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as {
  workspaces: string[];
  devDependencies: Record<string, string>;
};
const dockerignore = ignore().add(readFileSync(repoPath('.dockerignore'), 'utf8'));

/** COPY and ADD sources taken from the build context (not `--from` another stage). */
function contextCopies(): { stage: string | null; sources: string[] }[] {
  return containerfileStages().flatMap((stage) =>
    stage.instructions
      .filter((i) => ['COPY', 'ADD'].includes(i.getKeyword()))
      .filter((i) => !(i as Copy).getFromFlag())
      .map((i) => ({ stage: stage.name, sources: wordsOf(i).slice(0, -1) })),
  );
}

/** The workspace folders of the root package.json, `apps/*` and the like expanded. */
function workspaceFolders(): string[] {
  return rootPackage.workspaces.flatMap((pattern) => {
    if (!pattern.endsWith('/*')) return [pattern];
    const parent = pattern.slice(0, -2);
    return readdirSync(repoPath(parent), { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(repoPath(parent, d.name, 'package.json')))
      .map((d) => `${parent}/${d.name}`);
  });
}

function entrypointOf(stage: string): string[] {
  const instruction = containerfileStage(stage).instructions.findLast(
    (i) => i.getKeyword() === 'ENTRYPOINT',
  );
  return instruction ? wordsOf(instruction) : [];
}

describe('the Containerfile', () => {
  it('has no error or warning in the Dockerfile linter', () => {
    expect(validate(readFileSync(CONTAINERFILE, 'utf8'))).toEqual([]);
  });

  it('builds on the official Node image of the version the repository pins', () => {
    const text = readFileSync(CONTAINERFILE, 'utf8');
    const pinned = /^ARG NODE_VERSION=(\S+)$/m.exec(text)?.[1];
    expect(pinned).toBe(rootPackage.devDependencies.node);
    const bases = containerfileStages()
      .map((s) => s.base)
      .filter((b) => !containerfileStages().some((s) => s.name === b));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Containerfile's ARG, verbatim.
    expect(new Set(bases)).toEqual(new Set(['node:${NODE_VERSION}-bookworm-slim']));
  });

  it('copies only paths that the repository has and that .dockerignore lets through', () => {
    const copies = contextCopies().flatMap((c) => c.sources);
    expect(copies.length).toBeGreaterThan(0);
    for (const source of copies) {
      expect(existsSync(repoPath(source)), source).toBe(true);
      expect(dockerignore.ignores(source), `${source} is in .dockerignore`).toBe(false);
    }
  });

  it('copies every workspace’s package.json before npm ci, which refuses a lock file without them', () => {
    const installStage = contextCopies().filter((c) => c.stage === 'workspace');
    const copied = installStage.flatMap((c) => c.sources);
    for (const file of ['package.json', 'package-lock.json', '.npmrc']) {
      expect(copied).toContain(file);
    }
    for (const folder of workspaceFolders()) expect(copied).toContain(`${folder}/package.json`);
  });

  it('installs the server without dev dependencies and with no install scripts', () => {
    const runs = containerfileStage('server-modules')
      .instructions.filter((i) => i.getKeyword() === 'RUN')
      .map((i) => i.getArgumentsContent());
    expect(runs).toContain('npm ci --omit=dev --ignore-scripts');
  });

  it('runs the server as a numeric non-root user, so Kubernetes can check runAsNonRoot', () => {
    const user = containerfileStage('server')
      .instructions.findLast((i) => i.getKeyword() === 'USER')
      ?.getArgumentsContent();
    expect(user).toMatch(/^[1-9]\d*:\d+$/);
    expect(Number(user?.split(':')[0])).toBe(
      podSpecOf(serverDeployment()).securityContext?.runAsUser,
    );
  });

  it('starts each image as the Kubernetes manifests do, on files the repository has or builds', () => {
    expect(entrypointOf('server')).toEqual(serverContainer().command);
    expect(entrypointOf('agent')).toEqual(agentContainer().command);
    const [, serverScript] = entrypointOf('server');
    expect(existsSync(repoPath(serverScript?.slice(IMAGE_REPO_ROOT.length) ?? ''))).toBe(true);
    // The agent's bundle is built in the image, at the path the build script writes.
    const bundle = entrypointOf('agent').at(-1) ?? '';
    const buildScript = readFileSync(repoPath('apps/agent/scripts/build.ts'), 'utf8');
    const outfile = /new URL\('\.\.\/(dist\/[^']+)'/.exec(buildScript)?.[1];
    expect(bundle).toBe(`${IMAGE_REPO_ROOT}apps/agent/${outfile}`);
    const copied = containerfileStage('agent')
      .instructions.filter((i) => i.getKeyword() === 'COPY' && (i as Copy).getFromFlag())
      .map((i) => wordsOf(i));
    expect(copied).toContainEqual([bundle, 'apps/agent/dist/']);
  });

  it('runs the agent with the V8 flags of the systemd unit', () => {
    const execStart = systemdDirectives(AGENT_UNIT).get('ExecStart')?.[0]?.split(/\s+/) ?? [];
    const unitFlags = execStart.filter((w) => w.startsWith('--') && execStart.indexOf(w) > 0);
    const flags = entrypointOf('agent').filter((w) => w.startsWith('--'));
    expect(flags).toEqual(unitFlags.filter((f) => !f.startsWith('--spool')));
    for (const flag of PRODUCTION_FLAGS) expect(flags).toContain(flag);
  });
});

describe('.dockerignore', () => {
  it.each([
    'node_modules/zod/package.json',
    'apps/cli/node_modules/x/index.js',
    'packages/db/node_modules/x/index.js',
    '.git/HEAD',
    'apps/agent/dist/fleetpmap-agent.mjs',
    '.fleetpmap/pglite/PG_VERSION',
    'apps/server/.turbo/turbo-typecheck.log',
    'infra/compose/secrets/enroll-token',
    'admin-token',
  ])('keeps %s out of the build context', (path) => {
    expect(dockerignore.ignores(path)).toBe(true);
  });

  it('lets every file the images are built from through', () => {
    for (const path of [
      'package.json',
      'package-lock.json',
      'apps/server/bin/fleetpmap-server.js',
      'apps/agent/scripts/build.ts',
      'packages/db/migrations/meta/_journal.json',
      'packages/api/src/index.ts',
    ]) {
      expect(existsSync(repoPath(path)), path).toBe(true);
      expect(dockerignore.ignores(path), path).toBe(false);
    }
  });

  it('has only patterns that match what the repository makes', () => {
    const patterns = readFileSync(repoPath('.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    // Each pattern names something a build, a run or a person here leaves in the tree.
    const leftBehind = [
      'node_modules/x',
      'apps/cli/node_modules/x',
      '.git/HEAD',
      'apps/agent/dist/fleetpmap-agent.mjs',
      'apps/server/.turbo/turbo-typecheck.log',
      'packages/db/tsconfig.tsbuildinfo',
      'apps/agent/coverage/index.html',
      'npm-debug.log',
      'bench-results/scan.json',
      '.fleetpmap/pglite/PG_VERSION',
      'data/pglite/PG_VERSION',
      'backup.sql.gz',
      'fleet.dump',
      'data/admin-token',
      'web-07.token',
      'infra/compose/secrets/enroll-token',
    ];
    for (const pattern of patterns) {
      const alone = ignore().add(pattern);
      expect(
        leftBehind.some((p) => alone.ignores(p)),
        `${pattern} matches nothing`,
      ).toBe(true);
    }
  });
});
