import { LIMITS, MAX_FUTURE_SKEW_MS, PATTERNS } from './limits.ts';
import {
  formatIssuePath,
  mappingSchema,
  processRecordSchema,
  readErrorSchema,
  regionsSchema,
  regionTotalsSchema,
  rollupSchema,
  type Snapshot,
  type SnapshotParseResult,
  snapshotSchema,
  snapshotSchemaAt,
  statusSampleSchema,
} from './snapshot.ts';

/*
 * The zod schemas are the contract, but walking ~200 process records and their maps through
 * zod costs milliseconds per snapshot, most of the server's CPU at ingest. The check below is a
 * single pass over the process records that accepts only what the zod schemas accept (it may
 * refuse more: anything unusual, such as an optional key present as `undefined`, a `__proto__`
 * key or an `error` that zod would rather judge, is simply handed to zod). Whatever it does not
 * accept is parsed by zod, so every refusal carries zod's path and message exactly as before.
 */

type Obj = Record<string, unknown>;

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
}

function isNum(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
}

function isStr(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max;
}

function isBase64(v: unknown): boolean {
  return isStr(v, LIMITS.base64Chars) && PATTERNS.base64.test(v);
}

function isHex(v: unknown): boolean {
  return typeof v === 'string' && PATTERNS.lowerHex.test(v);
}

/**
 * kB and extra field names repeat in every mapping (Size, Rss, …): remember the ones that passed,
 * up to a bound, so a hostile stream of distinct names cannot grow it.
 */
const goodFieldNames = new Set<string>();

function isFieldName(k: string): boolean {
  if (goodFieldNames.has(k)) return true;
  if (k.length < 1 || k.length > LIMITS.fieldNameChars || !PATTERNS.fieldName.test(k)) return false;
  if (goodFieldNames.size < 1024) goodFieldNames.add(k);
  return true;
}

const isKb = (v: unknown) => isInt(v, 0, LIMITS.maxKb);

const keysOf = (shape: object) => Object.keys(shape);
const STATUS_KEYS = keysOf(statusSampleSchema.shape);
const ROLLUP_KEYS = keysOf(rollupSchema.shape);
const REGION_KEYS = keysOf(regionsSchema.shape);
const REGION_TOTAL_KB_KEYS = keysOf(regionTotalsSchema.shape).filter((k) => k !== 'count');

/** An object with exactly `keys`, every value a kB figure. */
function isKbObject(v: unknown, keys: readonly string[]): boolean {
  if (!isObj(v)) return false;
  let n = 0;
  for (const k in v) {
    if (!Object.hasOwn(v, k)) return false;
    n++;
  }
  if (n !== keys.length) return false;
  for (const k of keys) if (!isKb(v[k])) return false;
  return true;
}

function isRegions(v: unknown): boolean {
  if (!isObj(v)) return false;
  let n = 0;
  for (const k in v) {
    if (!Object.hasOwn(v, k)) return false;
    n++;
  }
  if (n !== REGION_KEYS.length) return false;
  for (const k of REGION_KEYS) {
    const t = v[k];
    if (!isObj(t)) return false;
    let m = 0;
    for (const key in t) {
      if (!Object.hasOwn(t, key)) return false;
      m++;
    }
    if (m !== REGION_TOTAL_KB_KEYS.length + 1) return false;
    if (!isInt(t.count, 0, LIMITS.mappingsPerProcess)) return false;
    for (const key of REGION_TOTAL_KB_KEYS) if (!isKb(t[key])) return false;
  }
  return true;
}

function isMapping(m: unknown): boolean {
  if (!isObj(m)) return false;
  let required = 0;
  for (const k in m) {
    if (!Object.hasOwn(m, k)) return false;
    const v = m[k];
    switch (k) {
      case 'start':
      case 'end':
      case 'offset':
        if (!isHex(v)) return false;
        required++;
        break;
      case 'perms':
        if (typeof v !== 'string' || !PATTERNS.perms.test(v)) return false;
        required++;
        break;
      case 'dev':
        if (typeof v !== 'string' || !PATTERNS.dev.test(v)) return false;
        required++;
        break;
      case 'inode':
        if (!isInt(v, 0, MAX_SAFE)) return false;
        required++;
        break;
      case 'path':
        if (!isStr(v, LIMITS.pathChars)) return false;
        required++;
        break;
      case 'pathBase64':
        if (!isBase64(v)) return false;
        break;
      case 'kb': {
        if (!isObj(v)) return false;
        let n = 0;
        for (const field in v) {
          if (!Object.hasOwn(v, field) || field === '__proto__' || !isFieldName(field)) {
            return false;
          }
          if (!isKb(v[field])) return false;
          n++;
        }
        if (n > LIMITS.kbFieldsPerMapping) return false;
        required++;
        break;
      }
      case 'vmFlags': {
        if (!Array.isArray(v) || v.length > LIMITS.vmFlagsPerMapping) return false;
        for (let i = 0; i < v.length; i++) {
          const f: unknown = v[i];
          if (typeof f !== 'string' || !PATTERNS.vmFlag.test(f)) return false;
        }
        required++;
        break;
      }
      case 'extra': {
        if (!isObj(v)) return false;
        let n = 0;
        for (const field in v) {
          if (!Object.hasOwn(v, field) || field === '__proto__' || !isFieldName(field)) {
            return false;
          }
          if (!isStr(v[field], LIMITS.extraValueChars)) return false;
          n++;
        }
        if (n > LIMITS.extraFieldsPerMapping) return false;
        required++;
        break;
      }
      default:
        return false;
    }
  }
  return required === MAPPING_REQUIRED;
}

function isProcess(p: unknown): boolean {
  if (!isObj(p)) return false;
  let required = 0;
  for (const k in p) {
    if (!Object.hasOwn(p, k)) return false;
    const v = p[k];
    switch (k) {
      case 'pid':
        if (!isInt(v, 1, LIMITS.maxPid)) return false;
        required++;
        break;
      case 'ppid':
        if (!isInt(v, 0, LIMITS.maxPid)) return false;
        required++;
        break;
      case 'uid':
        if (!isInt(v, 0, LIMITS.maxUid)) return false;
        required++;
        break;
      case 'startTicks':
        if (!isInt(v, 0, MAX_SAFE)) return false;
        required++;
        break;
      case 'comm':
        if (!isStr(v, LIMITS.commChars)) return false;
        required++;
        break;
      case 'cmdline':
        if (!isStr(v, LIMITS.cmdlineChars)) return false;
        required++;
        break;
      case 'threads':
        if (!isInt(v, 0, LIMITS.maxThreads)) return false;
        required++;
        break;
      case 'status':
        if (!isKbObject(v, STATUS_KEYS)) return false;
        required++;
        break;
      case 'commBase64':
      case 'cmdlineBase64':
      case 'exeBase64':
        if (!isBase64(v)) return false;
        break;
      case 'cmdlineTruncated':
        if (typeof v !== 'boolean') return false;
        break;
      case 'exe':
        if (!isStr(v, LIMITS.pathChars)) return false;
        break;
      case 'cgroup':
        if (!isStr(v, LIMITS.cgroupChars)) return false;
        break;
      case 'memoryLimitKb':
        if (!isKb(v)) return false;
        break;
      case 'rollup':
        if (!isKbObject(v, ROLLUP_KEYS)) return false;
        break;
      case 'regions':
        if (!isRegions(v)) return false;
        break;
      case 'mappings': {
        if (!Array.isArray(v) || v.length > LIMITS.mappingsPerProcess) return false;
        for (let i = 0; i < v.length; i++) if (!isMapping(v[i])) return false;
        break;
      }
      case 'readCostMs':
        if (!isNum(v, 0, LIMITS.maxCostMs)) return false;
        break;
      case 'tier':
        if (v !== 'cheap' && v !== 'rollup' && v !== 'full') return false;
        break;
      case 'error':
        // Rare: zod judges it (its output equals a valid input).
        if (!readErrorSchema.safeParse(v).success) return false;
        break;
      default:
        return false;
    }
  }
  return required === PROCESS_REQUIRED;
}

const requiredCount = (
  shape: Record<string, { safeParse: (v: unknown) => { success: boolean } }>,
) => Object.values(shape).filter((s) => !s.safeParse(undefined).success).length;
const PROCESS_REQUIRED = requiredCount(processRecordSchema.shape);
const MAPPING_REQUIRED = requiredCount(mappingSchema.shape);

/**
 * The snapshot when the fast path can vouch for it, else undefined (then zod decides). Everything
 * but `processes` (host, agent, the clock check) goes through the zod schema as usual, on a copy
 * with no processes, which is cheap.
 */
function fastSnapshot(input: unknown, nowMs: () => number): Snapshot | undefined {
  if (!isObj(input)) return undefined;
  const processes = input.processes;
  if (!Array.isArray(processes) || processes.length > LIMITS.processesPerSnapshot) return undefined;
  const seen = new Set<number>();
  let mappings = 0;
  for (let i = 0; i < processes.length; i++) {
    const p: unknown = processes[i];
    if (!isProcess(p)) return undefined;
    const { pid, mappings: maps } = p as { pid: number; mappings?: unknown[] };
    if (seen.has(pid)) return undefined;
    seen.add(pid);
    mappings += maps?.length ?? 0;
  }
  if (mappings > LIMITS.mappingsPerSnapshot) return undefined;
  // snapshotSchema is built once; a schema per call would be compiled anew by zod each time.
  const rest = snapshotSchema.safeParse({ ...input, processes: [] });
  if (!rest.success || rest.data.takenAtMs > nowMs() + MAX_FUTURE_SKEW_MS) return undefined;
  return { ...rest.data, processes: processes as Snapshot['processes'] };
}

type StandardResult =
  | { readonly value: Snapshot; readonly issues?: undefined }
  | {
      readonly issues: ReadonlyArray<{
        readonly message: string;
        readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }>;
      }>;
    };

/**
 * `snapshotSchemaAt` as a Standard Schema (what tRPC's `.input()` takes): the same accepted set,
 * the same first issue on refusal, a fraction of the CPU for a valid snapshot.
 */
export function snapshotInputAt(nowMs: () => number = Date.now) {
  const schema = snapshotSchemaAt(nowMs);
  return {
    '~standard': {
      version: 1 as const,
      vendor: 'fleetpmap',
      validate(input: unknown): StandardResult | Promise<StandardResult> {
        const fast = fastSnapshot(input, nowMs);
        if (fast) return { value: fast };
        return schema['~standard'].validate(input) as StandardResult | Promise<StandardResult>;
      },
      types: undefined as unknown as { input: unknown; output: Snapshot },
    },
  };
}

/** `parseSnapshot` with the fast path first; the same results. */
export function parseSnapshotFast(
  input: unknown,
  opts: { nowMs?: number } = {},
): SnapshotParseResult {
  const nowMs = opts.nowMs;
  const clock = nowMs === undefined ? Date.now : () => nowMs;
  const fast = fastSnapshot(input, clock);
  if (fast) return { ok: true, snapshot: fast };
  const result = snapshotSchemaAt(clock).safeParse(input);
  if (result.success) return { ok: true, snapshot: result.data };
  const issue = result.error.issues[0];
  return {
    ok: false,
    path: issue ? formatIssuePath(issue.path) : '',
    message: issue ? issue.message : 'invalid snapshot',
  };
}
