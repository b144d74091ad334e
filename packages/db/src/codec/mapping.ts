import { hash } from 'node:crypto';
import type { Mapping } from '@fleetpmap/protocol';
import { ByteReader, ByteWriter } from './varint.ts';

/** smaps field names by frequency; an index into this list is stored instead of the name. */
export const KB_NAMES = [
  'Size',
  'KernelPageSize',
  'MMUPageSize',
  'Rss',
  'Pss',
  'Pss_Dirty',
  'Shared_Clean',
  'Shared_Dirty',
  'Private_Clean',
  'Private_Dirty',
  'Referenced',
  'Anonymous',
  'KSM',
  'LazyFree',
  'AnonHugePages',
  'ShmemPmdMapped',
  'FilePmdMapped',
  'Shared_Hugetlb',
  'Private_Hugetlb',
  'Swap',
  'SwapPss',
  'Locked',
] as const;
const KB_INDEX = new Map<string, number>(KB_NAMES.map((n, i) => [n, i + 1]));

const HAS_PATH_BASE64 = 1;

/** One writer for every mapping (encoding is synchronous): `finish` copies each result out. */
const scratch = new ByteWriter(1024);

/**
 * The stored form of one mapping: every field, in wire order, so that decoding gives back the
 * exact object (field order of `kb` and `extra` included — pmap -XX prints them in that order).
 */
export function encodeMapping(m: Mapping): Uint8Array {
  const w = scratch;
  w.length = 0;
  w.uint(m.pathBase64 === undefined ? 0 : HAS_PATH_BASE64);
  w.string(m.start);
  w.string(m.end);
  w.string(m.perms);
  w.string(m.offset);
  w.string(m.dev);
  w.uint(m.inode);
  w.string(m.path);
  if (m.pathBase64 !== undefined) w.string(m.pathBase64);
  // for…in walks own keys in the order Object.entries gives, without an array per field
  const kb = m.kb;
  let kbCount = 0;
  for (const _ in kb) kbCount++;
  w.uint(kbCount);
  for (const name in kb) {
    const idx = KB_INDEX.get(name);
    w.uint(idx ?? 0);
    if (idx === undefined) w.string(name);
    w.uint(kb[name] as number);
  }
  w.string(m.vmFlags.join(' '));
  const extra = m.extra;
  let extraCount = 0;
  for (const _ in extra) extraCount++;
  w.uint(extraCount);
  for (const name in extra) {
    w.string(name);
    w.string(extra[name] as string);
  }
  return w.finish();
}

/**
 * `record[name] = value` as an own property whatever the name: assigned, `__proto__` would set
 * the object's prototype and the field would be lost (a stored field name comes from an agent).
 */
function setOwn<T>(record: Record<string, T>, name: string, value: T): void {
  if (name === '__proto__') {
    Object.defineProperty(record, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else record[name] = value;
}

export function decodeMapping(data: Uint8Array): Mapping {
  const r = new ByteReader(data);
  const flags = r.uint();
  const m: Mapping = {
    start: r.string(),
    end: r.string(),
    perms: r.string(),
    offset: r.string(),
    dev: r.string(),
    inode: r.uint(),
    path: r.string(),
    kb: {},
    vmFlags: [],
    extra: {},
  };
  if (flags & HAS_PATH_BASE64) m.pathBase64 = r.string();
  const kbCount = r.uint();
  for (let i = 0; i < kbCount; i++) {
    const idx = r.uint();
    const name = idx === 0 ? r.string() : KB_NAMES[idx - 1];
    if (name === undefined) throw new Error(`unknown kB field index ${idx}`);
    setOwn(m.kb, name, r.uint());
  }
  const flagsText = r.string();
  m.vmFlags = flagsText === '' ? [] : flagsText.split(' ');
  const extraCount = r.uint();
  for (let i = 0; i < extraCount; i++) {
    const name = r.string();
    setOwn(m.extra, name, r.string());
  }
  return m;
}

export const MAPPING_HASH_BYTES = 16;

/** Content address: the first 128 bits of SHA-256 of the stored form. */
export function mappingHash(encoded: Uint8Array): Uint8Array {
  return hash('sha256', encoded, 'buffer').subarray(0, MAPPING_HASH_BYTES);
}
