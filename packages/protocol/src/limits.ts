/** The `schema` value of every version-1 snapshot. */
export const SNAPSHOT_SCHEMA_ID = 'fleetpmap.snapshot/v1';

/** The tRPC path agents push to: `POST {server}/trpc/snapshot.push`. */
export const SNAPSHOT_PUSH_PATH = '/trpc/snapshot.push';

/**
 * Body limits of `snapshot.push`. The compressed limit caps what crosses the network; the
 * inflated limit caps what a gzip body may expand to (a gzip bomb is refused with 413 before it
 * is parsed). An agent splits a snapshot whose JSON would exceed the inflated limit into several
 * pushes with the same `takenAtMs` and distinct `snapshotId`s.
 */
export const MAX_COMPRESSED_BODY_BYTES = 8 * 1024 * 1024;
export const MAX_INFLATED_BODY_BYTES = 64 * 1024 * 1024;

/** A snapshot may be at most this far ahead of the server's clock (clock skew allowance). */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

/**
 * Snapshots older than 2000-01-01 are refused: such a time is a broken clock, not a backfill.
 */
export const MIN_TAKEN_AT_MS = Date.UTC(2000, 0, 1);

/** Every limit on a snapshot's shape; each is checked by the zod schemas of this package. */
export const LIMITS = {
  processesPerSnapshot: 100_000,
  /**
   * Twice Linux's default vm.max_map_count. A process with more mappings travels without
   * `mappings` (its `regions` and `rollup` still say where the memory is) and with an `error`.
   */
  mappingsPerProcess: 131_072,
  mappingsPerSnapshot: 131_072,
  skippedPerSnapshot: 100_000,
  labelsPerHost: 64,
  labelKeyChars: 63,
  labelValueChars: 255,
  hostNameChars: 253,
  kernelChars: 256,
  agentVersionChars: 64,
  commChars: 64,
  cmdlineChars: 4096,
  pathChars: 4096,
  /** base64 of at most `pathChars` raw bytes */
  base64Chars: 5464,
  cgroupChars: 4096,
  kbFieldsPerMapping: 64,
  extraFieldsPerMapping: 32,
  fieldNameChars: 64,
  extraValueChars: 256,
  vmFlagsPerMapping: 64,
  errorCodeChars: 32,
  errorMessageChars: 1024,
  reasonChars: 128,
  /** the largest kB value accepted: 2^50 KiB = 1 EiB */
  maxKb: 2 ** 50,
  /** PID_MAX_LIMIT on 64-bit Linux */
  maxPid: 4_194_304,
  maxUid: 4_294_967_295,
  maxThreads: 4_194_304,
  maxClockTicksPerSec: 100_000,
  maxPageSizeKb: 1_048_576,
  maxCostMs: 3_600_000,
} as const;

/** HTTP statuses an agent may retry (with backoff); every other 4xx/5xx is final. */
/**
 * The statuses a sender retries with backoff: the server's 429 and 503, and the 502 and 504 of a
 * proxy or load balancer in front of it, which say nothing about the snapshot.
 */
export const RETRYABLE_STATUSES: readonly number[] = [429, 502, 503, 504];

/** The contract's error answers: tRPC error code, HTTP status, whether an agent retries it. */
export const PROTOCOL_ERRORS = {
  BAD_REQUEST: {
    status: 400,
    retryable: false,
    meaning: 'invalid body; names the first bad field',
  },
  UNAUTHORIZED: { status: 401, retryable: false, meaning: 'no token or unknown/revoked token' },
  FORBIDDEN: { status: 403, retryable: false, meaning: 'token not allowed for this host or role' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, meaning: 'body over a size limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, meaning: 'unknown content encoding' },
  TOO_MANY_REQUESTS: { status: 429, retryable: true, meaning: 'rate limited; retry later' },
  SERVICE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    meaning: 'database unavailable; retry later',
  },
} as const;

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

/** Whether an agent should retry a push answered with this HTTP status. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.includes(status);
}

/**
 * The text patterns of the snapshot schemas, shared with the fast check of process records
 * (snapshot-input.ts) and the agent's config check, so all accept alike. Here rather than beside
 * the schemas so that the agent's bundle, which needs only these, leaves zod out.
 */
export const PATTERNS = {
  lowerHex: /^[0-9a-f]{1,16}$/,
  base64: /^[A-Za-z0-9+/]*={0,2}$/,
  /** `__proto__` is no kernel field; a record keyed by it would lose it (`ownKeyedRecord`, snapshot.ts). */
  fieldName: /^(?!__proto__$)[A-Za-z0-9_]+$/,
  hostName: /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  /** Identifiers; `__proto__` is refused as for field names. */
  labelKey: /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_.-]*$/,
  perms: /^[r-][w-][x-][ps]$/,
  dev: /^[0-9a-f]{2,3}:[0-9a-f]{2,5}$/,
  vmFlag: /^[a-z0-9?]{2}$/,
} as const;
