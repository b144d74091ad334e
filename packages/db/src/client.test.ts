import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exampleSnapshot } from '@fleetpmap/protocol';
import { describe, expect, it } from 'vitest';
import { createDb, defaultDataDir, migrate } from './client.ts';
import { ingestSnapshot } from './ingest.ts';
import { listHosts } from './queries.ts';

describe('createDb', () => {
  it('keeps PGlite data on disk across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-pglite-'));
    try {
      const first = await createDb(undefined, { dataDir: dir });
      await migrate(first);
      await ingestSnapshot(first.db, exampleSnapshot());
      await first.close();
      const second = await createDb(undefined, { dataDir: dir });
      await migrate(second);
      expect((await listHosts(second.db)).map((h) => h.name)).toEqual(['web-07']);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('puts the default data directory under XDG_DATA_HOME, else ~/.local/share', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: '/srv/data' })).toBe('/srv/data/fleetpmap/pglite');
    expect(defaultDataDir({})).toMatch(/\/\.local\/share\/fleetpmap\/pglite$/);
  });

  it('refuses a URL that is not postgres://', async () => {
    await expect(createDb('mysql://localhost/x')).rejects.toThrow(/postgres:\/\//);
  });
});
