import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hostGlobMatches } from '@fleetpmap/protocol';
import { and, asc, eq, gt, isNull, ne, or, sql } from 'drizzle-orm';
import type { Db } from './client.ts';
import { apiTokens } from './schema/index.ts';

export type TokenRole = 'admin' | 'reader' | 'agent' | 'enroll';
export const TOKEN_ROLES: readonly TokenRole[] = ['admin', 'reader', 'agent', 'enroll'];

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
  /** enroll tokens: the glob a host name must match to enroll (null: any) */
  hostPattern: string | null;
  /** agent tokens made by enrollment: the id of the enroll token that made them */
  enrolledBy: number | null;
  note: string;
  createdMs: number;
  lastUsedMs: number | null;
  revokedMs: number | null;
  expiresMs: number | null;
}

export interface CreatedToken extends TokenInfo {
  /** the secret; shown once, never stored */
  token: string;
}

function hashToken(token: string): Uint8Array {
  return createHash('sha256').update(token, 'utf8').digest();
}

export interface CreateTokenOptions {
  role: TokenRole;
  /** agent tokens: the one host they may write */
  hostName?: string;
  /** enroll tokens: a glob (`*`, `?`) host names must match to enroll */
  hostPattern?: string;
  note?: string;
  /** refused from this time on */
  expiresMs?: number;
  nowMs?: number;
}

export async function createToken(db: Db, opts: CreateTokenOptions): Promise<CreatedToken> {
  return insertToken(db, opts, null);
}

async function insertToken(
  db: Db,
  opts: CreateTokenOptions,
  enrolledBy: number | null,
): Promise<CreatedToken> {
  if (!TOKEN_ROLES.includes(opts.role)) throw new Error(`unknown role ${opts.role}`);
  if ((opts.role === 'agent') !== (opts.hostName !== undefined)) {
    throw new Error('agent tokens need a host name, and only agent tokens take one');
  }
  if (opts.hostPattern !== undefined && opts.role !== 'enroll') {
    throw new Error('only enroll tokens take a host pattern');
  }
  const nowMs = opts.nowMs ?? Date.now();
  if (opts.expiresMs !== undefined && !(opts.expiresMs > nowMs)) {
    throw new Error('a token must expire in the future');
  }
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const [row] = await db
    .insert(apiTokens)
    .values({
      prefix: token.slice(0, PUBLIC_CHARS),
      hash: hashToken(token),
      role: opts.role,
      hostName: opts.hostName ?? null,
      hostPattern: opts.hostPattern ?? null,
      enrolledBy,
      note: (opts.note ?? '').slice(0, 200),
      createdMs: nowMs,
      expiresMs: opts.expiresMs ?? null,
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
    hostPattern: row.hostPattern,
    enrolledBy: row.enrolledBy,
    note: row.note,
    createdMs: row.createdMs,
    lastUsedMs: row.lastUsedMs,
    revokedMs: row.revokedMs,
    expiresMs: row.expiresMs,
  };
}

function isLive(row: typeof apiTokens.$inferSelect, nowMs: number): boolean {
  return row.revokedMs === null && (row.expiresMs === null || row.expiresMs > nowMs);
}

/**
 * The identity behind a bearer token, or null when it is malformed, unknown, revoked or expired.
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
  const nowMs = opts.nowMs ?? Date.now();
  if (!row || !isLive(row, nowMs)) return null;
  if (!timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return null;
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

/** Refused because it would leave the fleet without a live admin token; the message says why. */
export class LastAdminToken extends Error {}

/**
 * Revokes by id or by the public prefix (as `token list` shows it, or the whole token). Returns
 * the revoked token, or null when nothing matched, the prefix is shorter than listed or ambiguous.
 * The last live admin token is not revoked (LastAdminToken): nobody could create or revoke tokens
 * any more, and only someone with the database at hand could mint a new one. To rotate it, create
 * the new admin token first.
 */
export async function revokeToken(
  db: Db,
  idOrPrefix: number | string,
  opts: { nowMs?: number } = {},
): Promise<TokenInfo | null> {
  if (typeof idOrPrefix === 'string' && idOrPrefix.length < PUBLIC_CHARS) return null;
  const nowMs = opts.nowMs ?? Date.now();
  const where =
    typeof idOrPrefix === 'number'
      ? eq(apiTokens.id, idOrPrefix)
      : sql`${apiTokens.prefix} like ${`${idOrPrefix.replace(/[\\%_]/g, '\\$&')}%`}`;
  return db.transaction(async (tx) => {
    const matches = await tx
      .select({ id: apiTokens.id, role: apiTokens.role })
      .from(apiTokens)
      .where(and(where, isNull(apiTokens.revokedMs)));
    const [match] = matches;
    if (!match || matches.length !== 1) return null;
    if (match.role === 'admin') {
      // Two admins revoking each other at once must not both succeed: the same lock as the
      // first admin token's.
      await tx.execute(sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK})`);
      const [other] = await tx
        .select({ id: apiTokens.id })
        .from(apiTokens)
        .where(and(eq(apiTokens.role, 'admin'), liveAt(nowMs), ne(apiTokens.id, match.id)))
        .limit(1);
      if (!other) {
        throw new LastAdminToken(
          `token ${match.id} is the last live admin token; create another first (fleetpmap token create --role admin), then revoke this one`,
        );
      }
    }
    const [row] = await tx
      .update(apiTokens)
      .set({ revokedMs: nowMs })
      .where(and(eq(apiTokens.id, match.id), isNull(apiTokens.revokedMs)))
      .returning();
    return row ? toInfo(row) : null;
  });
}

function liveAt(nowMs: number) {
  return and(
    isNull(apiTokens.revokedMs),
    or(isNull(apiTokens.expiresMs), gt(apiTokens.expiresMs, nowMs)),
  );
}

/** Serialises the first-start admin token across server replicas starting together. */
const FIRST_ADMIN_LOCK = 0x66_6c_61_64; // 'flad'

/**
 * An admin token, made only when the database has no live one: the server's first start makes
 * the fleet's first admin token, and a replica or a restarted pod with an empty data directory
 * does not mint another that nobody knows of. Null when one exists already.
 */
export async function createFirstAdminToken(
  db: Db,
  opts: { note?: string; nowMs?: number } = {},
): Promise<CreatedToken | null> {
  const nowMs = opts.nowMs ?? Date.now();
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${FIRST_ADMIN_LOCK})`);
    const [live] = await tx
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(eq(apiTokens.role, 'admin'), liveAt(nowMs)))
      .limit(1);
    if (live) return null;
    return insertToken(
      tx as unknown as Db,
      { role: 'admin', nowMs, ...(opts.note !== undefined ? { note: opts.note } : {}) },
      null,
    );
  });
}

/** Why an enrollment was refused; the message is meant for the agent's operator. */
export class EnrollmentRefused extends Error {
  readonly reason: 'enroll-token' | 'host-pattern' | 'host-taken';
  constructor(reason: EnrollmentRefused['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** Serialises enrollments of one host name across server replicas (with the host's name hash). */
const ENROLL_LOCK = 0x66_6c_65_6e; // 'flen'

/**
 * Trades a live enroll token for an agent token bound to `hostName`. Refused when the enroll
 * token has been revoked or has expired since the caller authenticated, when the name does not
 * match its host pattern, or when the host already has a live agent token: enrollment claims a
 * host name once, so whoever holds the shared enroll secret cannot take over a host that is
 * already enrolled. To move a host to a new agent (a reinstalled machine), revoke its token.
 */
export async function enrollAgent(
  db: Db,
  opts: { enrollTokenId: number; hostName: string; nowMs?: number },
): Promise<CreatedToken> {
  const nowMs = opts.nowMs ?? Date.now();
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${ENROLL_LOCK}, hashtext(${opts.hostName}))`);
    const [enroll] = await tx
      .select()
      .from(apiTokens)
      .where(eq(apiTokens.id, opts.enrollTokenId))
      .limit(1);
    if (enroll?.role !== 'enroll' || !isLive(enroll, nowMs)) {
      throw new EnrollmentRefused('enroll-token', 'the enroll token is revoked or expired');
    }
    if (enroll.hostPattern !== null && !hostGlobMatches(enroll.hostPattern, opts.hostName)) {
      throw new EnrollmentRefused(
        'host-pattern',
        `host ${opts.hostName} does not match this enroll token's hosts (${enroll.hostPattern})`,
      );
    }
    const [taken] = await tx
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(eq(apiTokens.hostName, opts.hostName), liveAt(nowMs)))
      .limit(1);
    if (taken) {
      throw new EnrollmentRefused(
        'host-taken',
        `host ${opts.hostName} is already enrolled (token ${taken.id}); revoke that token to enroll it again`,
      );
    }
    return insertToken(
      tx as unknown as Db,
      {
        role: 'agent',
        hostName: opts.hostName,
        note: `enrolled with token ${enroll.id}`,
        nowMs,
      },
      enroll.id,
    );
  });
}
