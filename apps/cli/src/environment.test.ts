import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_ENVIRONMENT } from './environment.ts';
import { resolveConnection } from './fleet/connection.ts';
import { procRoot } from './pmap-mode/proc-files.ts';

describe('the CLI’s environment', () => {
  it('is read through its list: the connection and the proc root read exactly those names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-cli-env-'));
    try {
      const read = new Set<string>();
      const env = new Proxy({} as Record<string, string | undefined>, {
        get(_, name) {
          if (typeof name === 'string') read.add(name);
          // No config file is found there.
          return name === 'XDG_CONFIG_HOME' ? dir : undefined;
        },
      });
      expect(resolveConnection({}, env).server).toBe('http://127.0.0.1:4680');
      expect(procRoot(env)).toBe('/proc');
      expect([...read].filter((n) => n.startsWith('FLEETPMAP_')).sort()).toEqual(
        [...CLI_ENVIRONMENT].sort(),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
