import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { variablesRead } from '@fleetpmap/protocol/environment';
import { describe, expect, it } from 'vitest';
import { CLI_ENVIRONMENT } from './environment.ts';
import { resolveConnection } from './fleet/connection.ts';
import { procRoot } from './pmap-mode/proc-files.ts';

describe('the CLI’s environment', () => {
  it('is read through its list: the connection and the proc root read exactly those names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetpmap-cli-env-'));
    try {
      // No config file is found there.
      const base = { XDG_CONFIG_HOME: dir };
      expect(resolveConnection({}, base).server).toBe('http://127.0.0.1:4680');
      expect(procRoot(base)).toBe('/proc');
      const read = variablesRead((env) => {
        resolveConnection({}, env);
        procRoot(env);
      }, base);
      expect(read).toEqual([...CLI_ENVIRONMENT].sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
