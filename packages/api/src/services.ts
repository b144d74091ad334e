import type { Snapshot } from '@fleetpmap/protocol';
import type { QueryServices } from './queries/query-services.ts';
import type { ReportServices } from './reports/report-services.ts';

/**
 * `enroll` tokens may only be traded for an agent token of the caller's host (`token.enroll`):
 * one secret for a whole fleet of new hosts, none of which can then write another's data.
 */
export const ROLES = ['admin', 'reader', 'agent', 'enroll'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling: resolved from a bearer token. */
export type Identity = {
  tokenId: string;
  role: Role;
  /** the one host an agent token may write; null for admin and reader tokens */
  hostName: string | null;
};

export type IngestOutcome = {
  duplicate: boolean;
  processCount: number;
  mappingCount: number;
  /** mappings actually written (a stable full map repeats few or none) */
  mappingsStored?: number;
};

export type HostSummary = {
  name: string;
  labels: Record<string, string>;
  agentVersion: string | null;
  kernel: string | null;
  lastSeenMs: number | null;
  processCount: number;
};

export type TokenInfo = {
  id: string;
  role: Role;
  hostName: string | null;
  /** enroll tokens: the glob of host names they may enroll (null: any) */
  hostPattern: string | null;
  label: string | null;
  createdAtMs: number;
  lastUsedAtMs: number | null;
  revokedAtMs: number | null;
  expiresAtMs: number | null;
};

export type CreatedToken = TokenInfo & {
  /** the secret, shown once; only its hash is stored */
  token: string;
};

/**
 * What the procedures need from storage. Procedures stay thin: every rule about rows lives
 * behind these functions (see `db-services.ts` for the Postgres/PGlite implementation).
 */
export type ApiServices = {
  /** null for an unknown or revoked token */
  authenticate(secret: string): Promise<Identity | null>;
  ingestSnapshot(snapshot: Snapshot): Promise<IngestOutcome>;
  listHosts(): Promise<HostSummary[]>;
  createToken(opts: {
    role: Role;
    hostName: string | null;
    label: string | null;
    hostPattern?: string | null;
    expiresAtMs?: number | null;
  }): Promise<CreatedToken>;
  /**
   * Trades the caller's enroll token for an agent token of `hostName`; throws an ApiError when
   * the host is already enrolled (CONFLICT), outside the token's pattern (FORBIDDEN), or the
   * enroll token has been revoked or has expired (UNAUTHENTICATED).
   */
  enrollAgent(enrollTokenId: string, hostName: string): Promise<CreatedToken>;
  listTokens(): Promise<TokenInfo[]>;
  /** false when no such token exists */
  revokeToken(id: string): Promise<TokenInfo | null>;
  /** fleet reads (top, ps, history, diff, maps); absent on a server without a database */
  queries?: QueryServices;
  /** the fleet leak reports: listed and read by readers, made on demand by admins */
  reports?: ReportServices;
};
