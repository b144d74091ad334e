import { sql } from 'drizzle-orm';
import { bigint, check, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { bytea } from './columns.ts';

/**
 * Bearer tokens. Only the SHA-256 of the token is stored (tokens are 256 random bits, so a fast
 * hash is as strong as a slow one here); `prefix` is the token's public start, for listing.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    prefix: text('prefix').notNull(),
    hash: bytea('hash').notNull().unique(),
    role: text('role').$type<'admin' | 'reader' | 'agent'>().notNull(),
    /** agent tokens only: the one host name this token may write */
    hostName: text('host_name'),
    note: text('note').notNull().default(''),
    createdMs: bigint('created_ms', { mode: 'number' }).notNull(),
    lastUsedMs: bigint('last_used_ms', { mode: 'number' }),
    revokedMs: bigint('revoked_ms', { mode: 'number' }),
  },
  (t) => [
    check('api_tokens_role', sql`${t.role} in ('admin', 'reader', 'agent')`),
    check('api_tokens_agent_host', sql`(${t.role} = 'agent') = (${t.hostName} is not null)`),
  ],
);
