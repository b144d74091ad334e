import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { bytea } from './columns.ts';

/**
 * Bearer tokens. Only the SHA-256 of the token is stored (tokens are 256 random bits, so a fast
 * hash is as strong as a slow one here); `prefix` is the token's public start, for listing.
 *
 * An `enroll` token writes nothing itself: an agent trades it once for an `agent` token bound to
 * its own host name (`enrolledBy` records which enrollment made it), so a fleet's agents can
 * share one secret without any of them being able to write another host's data.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    prefix: text('prefix').notNull(),
    hash: bytea('hash').notNull().unique(),
    role: text('role').$type<'admin' | 'reader' | 'agent' | 'enroll'>().notNull(),
    /** agent tokens only: the one host name this token may write */
    hostName: text('host_name'),
    /** enroll tokens only: the glob host names must match to enroll (null: any host) */
    hostPattern: text('host_pattern'),
    /** agent tokens made by enrollment: the enroll token's id */
    enrolledBy: integer('enrolled_by'),
    /** past this time the token is refused, as if revoked (null: never) */
    expiresMs: bigint('expires_ms', { mode: 'number' }),
    note: text('note').notNull().default(''),
    createdMs: bigint('created_ms', { mode: 'number' }).notNull(),
    lastUsedMs: bigint('last_used_ms', { mode: 'number' }),
    revokedMs: bigint('revoked_ms', { mode: 'number' }),
  },
  (t) => [
    check('api_tokens_role', sql`${t.role} in ('admin', 'reader', 'agent', 'enroll')`),
    check('api_tokens_agent_host', sql`(${t.role} = 'agent') = (${t.hostName} is not null)`),
    check('api_tokens_enroll_pattern', sql`${t.hostPattern} is null or ${t.role} = 'enroll'`),
    check('api_tokens_enrolled_agent', sql`${t.enrolledBy} is null or ${t.role} = 'agent'`),
    // Enrollment asks whether a host already has a live agent token.
    index('api_tokens_host').on(t.hostName),
  ],
);
