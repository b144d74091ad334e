import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ApiServices } from '@fleetpmap/api';

export const ADMIN_TOKEN_FILE = 'admin-token';

/**
 * On the first start with a data directory, creates an admin token and saves its secret there,
 * readable by the server's user only (0600). Later starts leave it alone.
 */
export async function ensureAdminToken(
  dataDir: string,
  services: ApiServices,
): Promise<{ path: string; created: boolean }> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  try {
    const existing = (await readFile(path, 'utf8')).trim();
    if (existing !== '') return { path, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = await services.createToken({
    role: 'admin',
    hostName: null,
    label: 'created at first start',
  });
  await writeFile(path, `${token.token}\n`, { mode: 0o600 });
  // The mode option applies only when the file is created; an empty leftover keeps its own.
  await chmod(path, 0o600);
  return { path, created: true };
}
