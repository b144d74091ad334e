import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { apiTokens } from './schema/index.ts';

export type TokenRole = 'admin' | 'reader' | 'agent';
export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'reader', 'agent'];

/** Tokens look like `fpm_<43 base64url chars>`: 256 random bits. */
const TOKEN_PREFIX = 'fpm_';
const TOKEN_RE = /^fpm_[A-Za-z0-9_-]{43}$/;
/** characters shown in listings: `fpm_` plus 8 (48 bits), enough to tell tokens apart */
const PUBLIC_CHARS = 12;
/** last-used times are written at most this often per token, not on every request */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface TokenInfo {
  id: number;
  prefix: string;
  role: TokenRole;
  hostName: string | null;
  note: string;
  createdMs: number;
  lastUsedMs: number | null;
  revokedMs: number | null;
}

export interface CreatedToken extends TokenInfo {
  /** the secret; shown once, never stored */
  token: string;
}

function hashToken(token: string): Uint8Array {
  return createHash('sha256').update(token, 'utf8').digest();
}

export async function createToken(
  db: Db,
  opts: { role: TokenRole; hostName?: string; note?: string; nowMs?: number },
): Promise<CreatedToken> {
  if (!TOKEN_ROLES.includes(opts.role)) throw new Error(`unknown role ${opts.role}`);
  if ((opts.role === 'agent') !== (opts.hostName !== undefined)) {
    throw new Error('agent tokens need a host name, and only agent tokens take one');
  }
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const [row] = await db
    .insert(apiTokens)
    .values({
      prefix: token.slice(0, PUBLIC_CHARS),
      hash: hashToken(token),
      role: opts.role,
      hostName: opts.hostName ?? null,
      note: (opts.note ?? '').slice(0, 200),
      createdMs: opts.nowMs ?? Date.now(),
    })
    .returning();
  if (!row) throw new Error('token insert returned nothing');
  return { ...toInfo(row), token };
}

function toInfo(row: typeof apiTokens.$inferSelect): TokenInfo {
  return {
    id: row.id,
    prefix: row.prefix,
    role: row.role,
    hostName: row.hostName,
    note: row.note,
    createdMs: row.createdMs,
    lastUsedMs: row.lastUsedMs,
    revokedMs: row.revokedMs,
  };
}

/**
 * The identity behind a bearer token, or null when it is malformed, unknown or revoked.
 * Lookup is by the hash (an index probe); the constant-time compare guards the last step.
 */
export async function verifyToken(
  db: Db,
  token: string,
  opts: { nowMs?: number } = {},
): Promise<TokenInfo | null> {
  if (!TOKEN_RE.test(token)) return null;
  const hash = hashToken(token);
  const [row] = await db.select().from(apiTokens).where(eq(apiTokens.hash, hash)).limit(1);
  if (!row || row.revokedMs !== null) return null;
  if (!timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return null;
  const nowMs = opts.nowMs ?? Date.now();
  if (row.lastUsedMs === null || nowMs - row.lastUsedMs >= LAST_USED_RESOLUTION_MS) {
    await db.update(apiTokens).set({ lastUsedMs: nowMs }).where(eq(apiTokens.id, row.id));
    row.lastUsedMs = nowMs;
  }
  return toInfo(row);
}

export async function listTokens(
  db: Db,
  opts: { includeRevoked?: boolean } = {},
): Promise<TokenInfo[]> {
  const rows = await db
    .select()
    .from(apiTokens)
    .where(opts.includeRevoked ? undefined : isNull(apiTokens.revokedMs))
    .orderBy(asc(apiTokens.id));
  return rows.map(toInfo);
}

/**
 * Revokes by id or by the public prefix (as `token list` shows it, or the whole token). Returns
 * the revoked token, or null when nothing matched, the prefix is shorter than listed or ambiguous.
 */
export async function revokeToken(
  db: Db,
  idOrPrefix: number | string,
  opts: { nowMs?: number } = {},
): Promise<TokenInfo | null> {
  if (typeof idOrPrefix === 'string' && idOrPrefix.length < PUBLIC_CHARS) return null;
  const where =
    typeof idOrPrefix === 'number'
      ? eq(apiTokens.id, idOrPrefix)
      : sql`${apiTokens.prefix} like ${`${idOrPrefix.replace(/[\\%_]/g, '\\$&')}%`}`;
  const matches = await db
    .select({ id: apiTokens.id })
    .from(apiTokens)
    .where(and(where, isNull(apiTokens.revokedMs)));
  const [match] = matches;
  if (!match || matches.length !== 1) return null;
  const [row] = await db
    .update(apiTokens)
    .set({ revokedMs: opts.nowMs ?? Date.now() })
    .where(eq(apiTokens.id, match.id))
    .returning();
  return row ? toInfo(row) : null;
}

/** Whether any usable admin token exists (the server creates the first one at start). */
export async function hasAdminToken(db: Db): Promise<boolean> {
  const rows = await db
    .select({ id: apiTokens.id })
    .from(apiTokens)
    .where(and(eq(apiTokens.role, 'admin'), isNull(apiTokens.revokedMs)))
    .limit(1);
  return rows.length > 0;
}
