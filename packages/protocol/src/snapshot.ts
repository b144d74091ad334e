import { z } from 'zod';
import {
  LIMITS,
  MAX_FUTURE_SKEW_MS,
  MIN_TAKEN_AT_MS,
  PATTERNS,
  SNAPSHOT_SCHEMA_ID,
} from './limits.ts';

/** Sizes are KiB exactly as the kernel prints them (`kB` in /proc means KiB). */
const kb = z.int().min(0).max(LIMITS.maxKb);
const lowerHex = z
  .string()
  .regex(PATTERNS.lowerHex, 'lower-case hex without 0x, at most 16 digits');
const base64 = z.string().max(LIMITS.base64Chars).regex(PATTERNS.base64, 'standard base64');
const fieldName = z
  .string()
  .min(1)
  .max(LIMITS.fieldNameChars)
  .regex(PATTERNS.fieldName, 'a kernel field name');

const RESERVED_KEY = '__proto__';

/**
 * A record whose keys the schema `key` names. zod passes over an own `__proto__` key without a
 * word (assigning it would replace the result's prototype), so such an entry would be accepted
 * and silently dropped from what is stored. No kernel field or label has that name: it is refused
 * instead, by `what` it should have been. The check reads the input, so it is a preprocess step;
 * JSON Schema shows the record itself.
 */
function ownKeyedRecord<V extends z.ZodType>(key: z.ZodString, value: V, what: string) {
  return z.preprocess(
    (input, ctx) => {
      if (typeof input === 'object' && input !== null && Object.hasOwn(input, RESERVED_KEY)) {
        ctx.addIssue({
          code: 'custom',
          message: `${what}, not ${RESERVED_KEY}`,
          input,
          path: [RESERVED_KEY],
        });
      }
      return input;
    },
    z.record(key, value),
  );
}

/** Host names travel in URLs, logs, `host:PID` targets and SQL keys: keep them plain. */
export const hostNameSchema = z
  .string()
  .min(1)
  .max(LIMITS.hostNameChars)
  .regex(PATTERNS.hostName, 'letters, digits, dot, dash and underscore only');

export const labelKeySchema = z
  .string()
  .min(1)
  .max(LIMITS.labelKeyChars)
  .regex(PATTERNS.labelKey, 'label keys are identifiers');

const labels = ownKeyedRecord(
  labelKeySchema,
  z.string().max(LIMITS.labelValueChars),
  'a label key',
).refine((r) => Object.keys(r).length <= LIMITS.labelsPerHost, {
  message: `at most ${LIMITS.labelsPerHost} labels`,
});

export const hostSchema = z.strictObject({
  name: hostNameSchema,
  bootId: z.guid().describe('/proc/sys/kernel/random/boot_id'),
  kernel: z.string().min(1).max(LIMITS.kernelChars),
  memTotalKb: kb,
  pageSizeKb: z.int().min(1).max(LIMITS.maxPageSizeKb),
  clockTicksPerSec: z.int().min(1).max(LIMITS.maxClockTicksPerSec),
  /**
   * Optional: agents before it did not send it, and their snapshots stay valid. At most
   * `takenAtMs` (checked with the snapshot): a host cannot have booted after it was read.
   */
  bootTimeMs: z
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe(
      'the btime line of /proc/stat (whole seconds since the epoch) × 1000; at most takenAtMs',
    ),
  labels: labels.optional(),
});

export const skippedProcessSchema = z.strictObject({
  pid: z.int().min(1).max(LIMITS.maxPid),
  comm: z.string().max(LIMITS.commChars).optional(),
  reason: z.string().min(1).max(LIMITS.reasonChars),
});

/** Which collection tier produced a process record (ARCHITECTURE.md, "the tiered agent"). */
export const tierSchema = z.enum(['cheap', 'rollup', 'full']);

const count = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const costMs = z.number().min(0).max(LIMITS.maxCostMs);
const tierCostSchema = z.strictObject({ count, ms: costMs });

/** The agent's own cost and delivery state over the cycle that made the snapshot. */
export const agentCostSchema = z.strictObject({
  tiers: z.strictObject({ cheap: tierCostSchema, rollup: tierCostSchema, full: tierCostSchema }),
  /** CPU time the agent used during the collection, ms. */
  cpuMs: costMs,
  rssKb: kb,
  /** Compressed bytes the agent sent since its start. */
  wireBytes: count,
  acknowledged: count,
  rejected: count,
  /** Snapshots waiting in the on-disk spool, and how many were dropped because it was full. */
  spool: z.strictObject({ count, bytes: count, dropped: count }),
});

export const agentSchema = z.strictObject({
  version: z.string().min(1).max(LIMITS.agentVersionChars),
  collectMs: z.number().min(0).max(LIMITS.maxCostMs).optional(),
  skipped: z.array(skippedProcessSchema).max(LIMITS.skippedPerSnapshot).optional(),
  cost: agentCostSchema.optional(),
});

/** From /proc/PID/status. A line the kernel omits (kernel threads have no Vm* lines) is 0. */
export const statusSampleSchema = z.strictObject({
  vmSizeKb: kb,
  vmRssKb: kb,
  rssAnonKb: kb,
  rssFileKb: kb,
  rssShmemKb: kb,
  vmSwapKb: kb,
  vmDataKb: kb,
  vmStkKb: kb,
  vmHwmKb: kb,
});

/** From /proc/PID/smaps_rollup. */
export const rollupSchema = z.strictObject({
  rssKb: kb,
  pssKb: kb,
  pssAnonKb: kb,
  pssFileKb: kb,
  pssShmemKb: kb,
  sharedCleanKb: kb,
  sharedDirtyKb: kb,
  privateCleanKb: kb,
  privateDirtyKb: kb,
  anonymousKb: kb,
  swapKb: kb,
  swapPssKb: kb,
  lockedKb: kb,
});

export const regionTotalsSchema = z.strictObject({
  count: z.int().min(0).max(LIMITS.mappingsPerProcess),
  sizeKb: kb,
  rssKb: kb,
  pssKb: kb,
  privateDirtyKb: kb,
  swapKb: kb,
});

export const REGION_CLASSES = ['heap', 'stack', 'anon', 'file', 'shmem', 'special'] as const;
export type RegionClass = (typeof REGION_CLASSES)[number];

export const regionsSchema = z.strictObject({
  heap: regionTotalsSchema,
  stack: regionTotalsSchema,
  anon: regionTotalsSchema,
  file: regionTotalsSchema,
  shmem: regionTotalsSchema,
  special: regionTotalsSchema,
});

export const mappingSchema = z.strictObject({
  start: lowerHex,
  end: lowerHex,
  perms: z.string().regex(PATTERNS.perms, 'four characters such as r-xp'),
  offset: lowerHex,
  dev: z.string().regex(PATTERNS.dev, 'major:minor in hex, e.g. fe:01'),
  /** Inode numbers above 2^53 cannot travel as JSON numbers exactly; they are refused. */
  inode: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  /**
   * UTF-8. When the kernel's bytes are not valid UTF-8, `path` carries them decoded with U+FFFD
   * replacements (for display) and `pathBase64` carries the exact bytes.
   */
  path: z.string().max(LIMITS.pathChars),
  pathBase64: base64.optional(),
  kb: ownKeyedRecord(fieldName, kb, 'a kernel field name').refine(
    (r) => Object.keys(r).length <= LIMITS.kbFieldsPerMapping,
    {
      message: `at most ${LIMITS.kbFieldsPerMapping} kB fields`,
    },
  ),
  vmFlags: z
    .array(z.string().regex(PATTERNS.vmFlag, 'two-letter VmFlags mnemonic'))
    .max(LIMITS.vmFlagsPerMapping),
  extra: ownKeyedRecord(
    fieldName,
    z.string().max(LIMITS.extraValueChars),
    'a kernel field name',
  ).refine((r) => Object.keys(r).length <= LIMITS.extraFieldsPerMapping, {
    message: `at most ${LIMITS.extraFieldsPerMapping} extra fields`,
  }),
});

export const readErrorSchema = z.strictObject({
  code: z
    .string()
    .min(1)
    .max(LIMITS.errorCodeChars)
    .regex(/^[A-Z0-9_]+$/, 'an upper-case code such as EACCES'),
  message: z.string().max(LIMITS.errorMessageChars),
});

export const processRecordSchema = z.strictObject({
  pid: z.int().min(1).max(LIMITS.maxPid),
  ppid: z.int().min(0).max(LIMITS.maxPid),
  uid: z.int().min(0).max(LIMITS.maxUid),
  startTicks: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  comm: z.string().max(LIMITS.commChars),
  commBase64: base64.optional(),
  /** NULs turned into spaces, trailing space removed; agents cut it at `cmdlineChars`. */
  cmdline: z.string().max(LIMITS.cmdlineChars),
  cmdlineBase64: base64.optional(),
  cmdlineTruncated: z.boolean().optional(),
  exe: z.string().max(LIMITS.pathChars).optional(),
  exeBase64: base64.optional(),
  cgroup: z.string().max(LIMITS.cgroupChars).optional(),
  /**
   * Optional: absent when no limit is known (none set, or the cgroup not visible to the agent),
   * and from agents before it.
   */
  memoryLimitKb: kb
    .optional()
    .describe(
      "the tightest memory limit over the process's cgroup and its ancestors (v2 memory.max, v1 memory.limit_in_bytes), KiB",
    ),
  threads: z.int().min(0).max(LIMITS.maxThreads),
  status: statusSampleSchema,
  rollup: rollupSchema.optional(),
  regions: regionsSchema.optional(),
  mappings: z.array(mappingSchema).max(LIMITS.mappingsPerProcess).optional(),
  readCostMs: z.number().min(0).max(LIMITS.maxCostMs).optional(),
  tier: tierSchema.optional(),
  error: readErrorSchema.optional(),
});

/** The structure of a snapshot, without the clock-dependent check on `takenAtMs`. */
export const snapshotSchema = z
  .strictObject({
    schema: z.literal(SNAPSHOT_SCHEMA_ID),
    snapshotId: z.guid(),
    takenAtMs: z.int().min(MIN_TAKEN_AT_MS).max(Number.MAX_SAFE_INTEGER),
    host: hostSchema,
    agent: agentSchema,
    processes: z.array(processRecordSchema).max(LIMITS.processesPerSnapshot),
  })
  .superRefine((snapshot, ctx) => {
    const boot = snapshot.host.bootTimeMs;
    if (boot !== undefined && boot > snapshot.takenAtMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['host', 'bootTimeMs'],
        message: `bootTimeMs ${boot} is after takenAtMs ${snapshot.takenAtMs}`,
      });
      return;
    }
    const seen = new Set<number>();
    let mappings = 0;
    for (const [i, p] of snapshot.processes.entries()) {
      if (seen.has(p.pid)) {
        ctx.addIssue({
          code: 'custom',
          path: ['processes', i, 'pid'],
          message: `pid ${p.pid} appears twice in one snapshot`,
        });
        return;
      }
      seen.add(p.pid);
      mappings += p.mappings?.length ?? 0;
    }
    if (mappings > LIMITS.mappingsPerSnapshot) {
      ctx.addIssue({
        code: 'custom',
        path: ['processes'],
        message: `${mappings} mappings in one snapshot; at most ${LIMITS.mappingsPerSnapshot} (split it)`,
      });
    }
  });

export type Host = z.infer<typeof hostSchema>;
export type Agent = z.infer<typeof agentSchema>;
export type AgentCost = z.infer<typeof agentCostSchema>;
export type Tier = z.infer<typeof tierSchema>;
export type SkippedProcess = z.infer<typeof skippedProcessSchema>;
export type StatusSample = z.infer<typeof statusSampleSchema>;
export type Rollup = z.infer<typeof rollupSchema>;
export type RegionTotals = z.infer<typeof regionTotalsSchema>;
export type Regions = z.infer<typeof regionsSchema>;
export type Mapping = z.infer<typeof mappingSchema>;
export type ReadError = z.infer<typeof readErrorSchema>;
export type ProcessRecord = z.infer<typeof processRecordSchema>;
export type Snapshot = z.infer<typeof snapshotSchema>;

/**
 * The full check of an incoming snapshot: its structure plus `takenAtMs` at most
 * `MAX_FUTURE_SKEW_MS` ahead of `nowMs()`. The clock is a parameter so tests and replays can pin it.
 */
export function snapshotSchemaAt(nowMs: () => number = Date.now) {
  return snapshotSchema.superRefine((snapshot, ctx) => {
    const limit = nowMs() + MAX_FUTURE_SKEW_MS;
    if (snapshot.takenAtMs > limit) {
      ctx.addIssue({
        code: 'custom',
        path: ['takenAtMs'],
        message: `takenAtMs ${snapshot.takenAtMs} is more than ${MAX_FUTURE_SKEW_MS / 1000} s in the future`,
      });
    }
  });
}

export type SnapshotParseResult =
  | { ok: true; snapshot: Snapshot }
  | { ok: false; path: string; message: string };

/** Validates untrusted input; on failure names the first bad field as a dotted path. */
export function parseSnapshot(input: unknown, opts: { nowMs?: number } = {}): SnapshotParseResult {
  const nowMs = opts.nowMs;
  const result = snapshotSchemaAt(nowMs === undefined ? Date.now : () => nowMs).safeParse(input);
  if (result.success) return { ok: true, snapshot: result.data };
  const issue = result.error.issues[0];
  const path = issue ? formatIssuePath(issue.path) : '';
  return { ok: false, path, message: issue ? issue.message : 'invalid snapshot' };
}

/** `processes[3].mappings[0].perms` style path for error messages. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}
