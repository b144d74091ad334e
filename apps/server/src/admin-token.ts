import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFirstAdminToken, createToken, type Db, type DbHandle } from '@fleetpmap/db';

export const ADMIN_TOKEN_FILE = 'admin-token';

export type AdminTokenState =
  /** the data directory holds an admin token (made now, or at an earlier start) */
  | { path: string; created: boolean; elsewhere: false }
  /** none here, and none made: the database has live admin tokens already (another replica's) */
  | { path: string; created: false; elsewhere: true };

/**
 * On the first start of a fleet, creates its first admin token and saves the secret in the data
 * directory, readable by the server's user only (0600). Later starts leave it alone. On Postgres,
 * a server whose data directory has none while the database already has a live admin token (a
 * second replica, a restarted container) makes none: a token nobody knows of is only a
 * liability, and `fleetpmap-server admin-token` makes another when one is needed. Embedded
 * PGlite keeps its database in that same directory, so there is no other server: a token file
 * deleted by hand is made again (`admin-token` cannot open PGlite beside a running server).
 */
export async function ensureAdminToken(
  dataDir: string,
  handle: DbHandle,
): Promise<AdminTokenState> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  try {
    const existing = (await readFile(path, 'utf8')).trim();
    if (existing !== '') return { path, created: false, elsewhere: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const note = 'created at first start';
  const token =
    handle.driver === 'pglite'
      ? await createToken(handle.db, { role: 'admin', note })
      : await createFirstAdminToken(handle.db, { note });
  if (token === null) return { path, created: false, elsewhere: true };
  await saveSecret(path, token.token);
  return { path, created: true, elsewhere: false };
}

/** A new admin token, whatever exists: `fleetpmap-server admin-token`. */
export async function createAdminToken(db: Db, note: string): Promise<string> {
  return (await createToken(db, { role: 'admin', note })).token;
}

async function saveSecret(path: string, secret: string): Promise<void> {
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  // The mode option applies only when the file is created; an empty leftover keeps its own.
  await chmod(path, 0o600);
}
