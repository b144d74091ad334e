import { describe, expect, it } from 'vitest';
import { rawRequest, useTestServer } from '../server/harness.ts';
import { composeService, serverContainer } from './deployment-files.ts';

/** Every HTTP path the orchestrators ask the server for: Kubernetes probes, the compose healthcheck. */
function probedPaths(): string[] {
  const container = serverContainer();
  const kubernetes = [container.startupProbe, container.readinessProbe, container.livenessProbe]
    .map((probe) => probe?.httpGet?.path)
    .filter((path) => path !== undefined);
  const healthcheck = composeService('server').healthcheck?.test.join(' ') ?? '';
  const compose = [...healthcheck.matchAll(/http:\/\/[^'"\s)]+/g)].map(
    (m) => new URL(m[0]).pathname,
  );
  return [...new Set([...kubernetes, ...compose])];
}

describe('the health probes', () => {
  const server = useTestServer({ name: 'pglite' });

  it('cover readiness and liveness', () => {
    expect(probedPaths().sort()).toEqual(['/healthz', '/readyz']);
  });

  it.each(probedPaths())('%s answers 200 from a running server', async (path) => {
    const response = await rawRequest(server.url, { method: 'GET', path });
    expect(response.status).toBe(200);
  });
});
