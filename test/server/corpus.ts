import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import {
  exampleMapping,
  exampleProcess,
  exampleSnapshot,
  MAX_COMPRESSED_BODY_BYTES,
  MAX_INFLATED_BODY_BYTES,
  type Snapshot,
} from '@fleetpmap/protocol';

export type HostileCase = {
  name: string;
  body: Buffer | string;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  /** the exact status, when the case has one answer only */
  status?: number;
  /** the first bad field the answer must name */
  field?: string;
};

/** A snapshot using every optional part of the contract, so every field can be broken. */
export function fullSnapshot(hostName = 'web-07'): Snapshot {
  const base = exampleSnapshot();
  const totals = { count: 1, sizeKb: 132, rssKb: 128, pssKb: 128, privateDirtyKb: 128, swapKb: 0 };
  return {
    ...base,
    snapshotId: randomUUID(),
    takenAtMs: Date.now() - 60_000,
    host: { ...base.host, name: hostName },
    processes: [
      exampleProcess({
        rollup: {
          rssKb: 812_000,
          pssKb: 800_000,
          pssAnonKb: 700_000,
          pssFileKb: 98_000,
          pssShmemKb: 2_000,
          sharedCleanKb: 12_000,
          sharedDirtyKb: 0,
          privateCleanKb: 100_000,
          privateDirtyKb: 700_000,
          anonymousKb: 700_000,
          swapKb: 0,
          swapPssKb: 0,
          lockedKb: 0,
        },
        regions: {
          heap: { ...totals },
          stack: { ...totals },
          anon: { ...totals },
          file: { ...totals },
          shmem: { ...totals },
          special: { ...totals },
        },
        mappings: [exampleMapping()],
        error: { code: 'EACCES', message: 'permission denied' },
      }),
      exampleProcess({ pid: 4121, startTicks: 99_120, comm: 'nginx' }),
    ],
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function leaves(value: Json, path: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [path];
  const entries: [string | number, Json][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  const out: (string | number)[][] = [];
  for (const [k, v] of entries) out.push(...leaves(v, [...path, k]));
  return out;
}

function objectsOf(value: Json, path: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [];
  const own = Array.isArray(value) ? [] : [path];
  const entries: [string | number, Json][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value);
  return [...own, ...entries.flatMap(([k, v]) => objectsOf(v, [...path, k]))];
}

function withValue(root: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(root);
  let node = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

export function dotted(path: (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** Keys whose values are free-form maps: a wrong *key* there is not a wrong type. */
const FREE_MAPS = new Set(['labels', 'kb', 'extra']);

/** Fields that may be absent: deleting them is valid. */
const OPTIONAL = new Set([
  'labels',
  'bootTimeMs',
  'collectMs',
  'skipped',
  'comm',
  'exe',
  'cgroup',
  'memoryLimitKb',
  'rollup',
  'regions',
  'mappings',
  'readCostMs',
  'error',
  'pathBase64',
]);

export function hostileCorpus(): HostileCase[] {
  const cases: HostileCase[] = [];
  const good = fullSnapshot() as unknown as Json;
  const json = (name: string, value: unknown, more: Partial<HostileCase> = {}) =>
    cases.push({ name, body: JSON.stringify(value), ...more });

  // Malformed JSON.
  const goodText = JSON.stringify(good);
  const malformed = [
    '',
    ' ',
    '{',
    '}',
    '[',
    '{"schema":',
    '{"schema":"fleetpmap.snapshot/v1",}',
    "{'schema':'fleetpmap.snapshot/v1'}",
    '{schema:1}',
    'NaN',
    'undefined',
    '{"a":NaN}',
    '{"a":Infinity}',
    '{"a":01}',
    '{"a":1e}',
    '{"a":"\\x41"}',
    '{"a":"unterminated}',
    '{"a":"\u0001"}',
    '\u00ef\u00bb\u00bf{}',
    goodText.slice(0, goodText.length / 2),
    goodText.slice(0, -1),
    `${goodText}}`,
    `${goodText}${goodText}`,
    goodText.replace(/:/, '::'),
    'null',
    'true',
    '42',
    '"fleetpmap.snapshot/v1"',
    '[]',
    '{}',
  ];
  for (const [i, text] of malformed.entries())
    cases.push({ name: `malformed JSON #${i}`, body: text, status: 400 });
  cases.push({
    name: 'binary garbage',
    body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x9c, 0x80]),
    status: 400,
  });

  // Every leaf with a value of the wrong type.
  for (const path of leaves(good)) {
    const parent = path[path.length - 2];
    const original = path.reduce<Json>(
      (n, k) => (n as Record<string | number, Json>)[k] as Json,
      good,
    );
    const wrong: Json[] =
      typeof original === 'number'
        ? [String(original), null, true, [original], { v: original }]
        : typeof original === 'string'
          ? [12345, null, false, [original], { v: original }]
          : ['true', 1, null];
    for (const [i, value] of wrong.entries()) {
      // A number as a free-map value is what kb maps hold; for labels/extra it is wrong.
      if (parent === 'kb' && typeof value === 'number') continue;
      cases.push({
        name: `wrong type at ${dotted(path)} #${i}`,
        body: JSON.stringify(withValue(good, path, value)),
        status: 400,
        field: dotted(path),
      });
    }
  }

  // Required fields missing; unknown fields added to every strict object.
  for (const path of leaves(good).concat(objectsOf(good).filter((p) => p.length > 0))) {
    const key = path[path.length - 1];
    const parent = path[path.length - 2];
    if (typeof key !== 'string' || OPTIONAL.has(key) || FREE_MAPS.has(String(parent))) continue;
    if (cases.some((c) => c.name === `missing ${dotted(path)}`)) continue;
    cases.push({
      name: `missing ${dotted(path)}`,
      body: JSON.stringify(withValue(good, path, undefined)),
      status: 400,
      field: dotted(path),
    });
  }
  for (const path of objectsOf(good)) {
    const key = path[path.length - 1];
    if (typeof key === 'string' && FREE_MAPS.has(key)) continue;
    cases.push({
      name: `unknown field in ${dotted(path) || 'top level'}`,
      body: JSON.stringify(withValue(good, [...path, 'sneaky'], 1)),
      status: 400,
    });
  }

  // Values of the right type that break a rule.
  const snap = () => fullSnapshot() as unknown as Json;
  const p0 = ['processes', 0];
  const m0 = [...p0, 'mappings', 0];
  const rules: [string, (string | number)[], Json][] = [
    ['schema v2', ['schema'], 'fleetpmap.snapshot/v2'],
    ['empty snapshotId', ['snapshotId'], ''],
    ['snapshotId not a UUID', ['snapshotId'], 'not-a-uuid'],
    ['snapshotId without dashes', ['snapshotId'], '0b6f3c1e2f7a4d599a435d1c0e8b7a21'],
    ['snapshotId in braces', ['snapshotId'], '{0b6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a21}'],
    ['snapshotId with z', ['snapshotId'], 'zb6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a21'],
    ['snapshotId 37 chars', ['snapshotId'], '0b6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a211'],
    ['bootId not a UUID', ['host', 'bootId'], 'boot'],
    ['bootId SQL', ['host', 'bootId'], "'); drop table hosts; --"],
    ['takenAtMs 10 min ahead', ['takenAtMs'], Date.now() + 10 * 60_000],
    ['takenAtMs a year ahead', ['takenAtMs'], Date.now() + 365 * 86_400_000],
    ['takenAtMs negative', ['takenAtMs'], -1],
    ['takenAtMs zero', ['takenAtMs'], 0],
    ['takenAtMs fractional', ['takenAtMs'], Date.now() - 0.5],
    ['takenAtMs before 2000', ['takenAtMs'], Date.UTC(1999, 11, 31)],
    ['takenAtMs huge', ['takenAtMs'], 1e300],
    ['takenAtMs in seconds', ['takenAtMs'], Math.floor(Date.now() / 1000)],
    ['host name with space', ['host', 'name'], 'web 07'],
    ['host name path', ['host', 'name'], '../etc/passwd'],
    ['host name empty', ['host', 'name'], ''],
    ['host name 254 chars', ['host', 'name'], 'h'.repeat(254)],
    ['host name unicode', ['host', 'name'], 'wéb-07'],
    ['host name with colon', ['host', 'name'], 'web:07'],
    ['pageSizeKb zero', ['host', 'pageSizeKb'], 0],
    ['clockTicksPerSec zero', ['host', 'clockTicksPerSec'], 0],
    ['bootTimeMs after takenAtMs', ['host', 'bootTimeMs'], Date.now()],
    ['bootTimeMs negative', ['host', 'bootTimeMs'], -1000],
    ['bootTimeMs fractional', ['host', 'bootTimeMs'], Date.UTC(2026, 5, 1) + 0.5],
    ['bootTimeMs huge', ['host', 'bootTimeMs'], 1e300],
    ['memTotalKb negative', ['host', 'memTotalKb'], -4],
    ['label key starts with digit', ['host', 'labels'], { '1env': 'prod' }],
    ['label key with space', ['host', 'labels'], { 'my env': 'prod' }],
    ['label value 256 chars', ['host', 'labels'], { env: 'v'.repeat(256) }],
    [
      '65 labels',
      ['host', 'labels'],
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
    ],
    ['label value with NUL', ['host', 'labels'], { env: 'pr\u0000od' }],
    ['label value lone surrogate', ['host', 'labels'], { env: 'pr\ud800od' }],
    ['agent version empty', ['agent', 'version'], ''],
    ['agent version 1 MB', ['agent', 'version'], 'v'.repeat(1 << 20)],
    ['collectMs negative', ['agent', 'collectMs'], -1],
    ['pid zero', [...p0, 'pid'], 0],
    ['pid above PID_MAX_LIMIT', [...p0, 'pid'], 4_194_305],
    ['pid fractional', [...p0, 'pid'], 1.5],
    ['uid negative', [...p0, 'uid'], -1],
    ['uid above 2^32', [...p0, 'uid'], 2 ** 32],
    ['startTicks above 2^53', [...p0, 'startTicks'], 2 ** 60],
    ['comm 65 chars', [...p0, 'comm'], 'c'.repeat(65)],
    ['comm 1 MB', [...p0, 'comm'], 'c'.repeat(1 << 20)],
    ['comm with NUL', [...p0, 'comm'], 'ja\u0000va'],
    ['cmdline with NUL', [...p0, 'cmdline'], 'java\u0000-jar'],
    ['cmdline lone surrogate', [...p0, 'cmdline'], 'java \udc00'],
    ['cmdline 4097 chars', [...p0, 'cmdline'], 'x'.repeat(4097)],
    ['exe 4097 chars', [...p0, 'exe'], `/${'x'.repeat(4096)}`],
    ['cgroup 1 MB', [...p0, 'cgroup'], '/'.repeat(1 << 20)],
    ['memoryLimitKb negative', [...p0, 'memoryLimitKb'], -1024],
    ['memoryLimitKb fractional', [...p0, 'memoryLimitKb'], 1024.5],
    ['memoryLimitKb over maxKb', [...p0, 'memoryLimitKb'], 2 ** 50 + 1],
    ['memoryLimitKb as the v1 no-limit string', [...p0, 'memoryLimitKb'], '9223372036854771712'],
    ['threads negative', [...p0, 'threads'], -3],
    ['rss negative', [...p0, 'status', 'vmRssKb'], -1],
    ['rss above 2^50', [...p0, 'status', 'vmRssKb'], 2 ** 51],
    ['rss fractional', [...p0, 'status', 'rssAnonKb'], 10.25],
    ['region count negative', [...p0, 'regions', 'heap', 'count'], -1],
    ['perms five chars', [...m0, 'perms'], 'rwxpp'],
    ['perms bad letter', [...m0, 'perms'], 'rwxz'],
    ['perms upper case', [...m0, 'perms'], 'RW-P'],
    ['start upper-case hex', [...m0, 'start'], '55D4A3C00000'],
    ['start with 0x', [...m0, 'start'], '0x55d4a3c00000'],
    ['start 17 digits', [...m0, 'start'], '1'.repeat(17)],
    ['offset not hex', [...m0, 'offset'], 'ghij'],
    ['dev without colon', [...m0, 'dev'], 'fe01'],
    ['dev SQL', [...m0, 'dev'], "fe:01'--"],
    ['inode above 2^53', [...m0, 'inode'], 2 ** 64],
    ['inode negative', [...m0, 'inode'], -1],
    ['path 4097 chars', [...m0, 'path'], 'p'.repeat(4097)],
    ['pathBase64 not base64', [...m0, 'pathBase64'], '***'],
    ['kb value negative', [...m0, 'kb'], { Size: -4 }],
    ['kb value fractional', [...m0, 'kb'], { Size: 4.5 }],
    ['kb key with space', [...m0, 'kb'], { 'Si ze': 4 }],
    ['kb key empty', [...m0, 'kb'], { '': 4 }],
    [
      'kb 65 fields',
      [...m0, 'kb'],
      Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`F${i}`, 1])),
    ],
    ['kb value string', [...m0, 'kb'], { Size: '4' }],
    ['vmFlags three letters', [...m0, 'vmFlags'], ['rdx']],
    ['65 vmFlags', [...m0, 'vmFlags'], Array.from({ length: 65 }, () => 'rd')],
    ['extra value 257 chars', [...m0, 'extra'], { THPeligible: 'x'.repeat(257) }],
    ['extra value number', [...m0, 'extra'], { THPeligible: 0 }],
    ['error code lower case', [...p0, 'error', 'code'], 'eacces'],
    ['error message 1 MB', [...p0, 'error', 'message'], 'm'.repeat(1 << 20)],
    ['duplicate pid', ['processes', 1, 'pid'], 812],
    ['processes an object', ['processes'], { 0: {} }],
    ['skipped pid zero', ['agent', 'skipped'], [{ pid: 0, reason: 'x' }]],
  ];
  for (const [name, path, value] of rules) {
    json(name, withValue(snap(), path, value), { status: 400 });
  }

  // Huge arrays.
  const skipped = Array.from({ length: 100_001 }, (_, i) => ({
    pid: 1 + (i % 4_000_000),
    reason: 'x',
  }));
  json('100001 skipped entries', withValue(snap(), ['agent', 'skipped'], skipped), { status: 400 });
  const mapping = exampleMapping();
  const tooManyMappings = Array.from({ length: 262_145 }, () => mapping);
  cases.push({
    name: '262145 mappings (gzip)',
    body: gzipSync(
      JSON.stringify(withValue(snap(), [...p0, 'mappings'], tooManyMappings as unknown as Json)),
    ),
    headers: { 'content-encoding': 'gzip' },
  });
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  cases.push({
    name: 'deeply nested label value',
    body: goodText.replace('"env":"prod"', `"env":${nested(10_000)}`),
    status: 400,
    field: 'host.labels.env',
  });
  cases.push({
    name: 'deeply nested process',
    body: goodText.replace('"processes":[', `"processes":[${nested(50_000)},`),
    status: 400,
  });
  cases.push({
    name: 'deeply nested array body',
    body: `${'['.repeat(200_000)}${']'.repeat(200_000)}`,
    status: 400,
  });
  cases.push({
    name: 'deeply nested object body',
    body: `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`,
    status: 400,
  });

  // Bodies over the limits and broken encodings.
  const gz = (text: string) => gzipSync(Buffer.from(text));
  const goodGz = gz(goodText);
  cases.push({
    name: 'identity body over the wire limit',
    body: Buffer.alloc(MAX_COMPRESSED_BODY_BYTES + 1, 0x20),
    status: 413,
  });
  cases.push({
    name: 'chunked body over the wire limit',
    body: Buffer.alloc(MAX_COMPRESSED_BODY_BYTES + 1024, 0x20),
    headers: { 'transfer-encoding': 'chunked' },
    status: 413,
  });
  cases.push({
    name: 'Content-Length claims over the limit',
    body: '{}',
    headers: { 'content-length': String(MAX_COMPRESSED_BODY_BYTES + 1) },
    status: 413,
  });
  const zeros = gzipSync(Buffer.alloc(MAX_INFLATED_BODY_BYTES + 1024 * 1024), { level: 9 });
  cases.push({
    name: 'gzip bomb of zeros',
    body: zeros,
    headers: { 'content-encoding': 'gzip' },
    status: 413,
  });
  const jsonBomb = gzipSync(
    Buffer.concat([
      Buffer.from('{"schema":"'),
      Buffer.alloc(MAX_INFLATED_BODY_BYTES + 16, 0x61),
      Buffer.from('"}'),
    ]),
    { level: 9 },
  );
  cases.push({
    name: 'gzip bomb of one JSON string',
    body: jsonBomb,
    headers: { 'content-encoding': 'gzip' },
    status: 413,
  });
  cases.push({
    name: 'gzip bomb, x-gzip',
    body: zeros,
    headers: { 'content-encoding': 'x-gzip' },
    status: 413,
  });
  for (const cut of [1, 2, 5, 10, 20, 0.25, 0.5, 0.75, -8, -4, -1]) {
    const at = cut >= 1 ? cut : cut < 0 ? goodGz.length + cut : Math.floor(goodGz.length * cut);
    cases.push({
      name: `truncated gzip at ${at} of ${goodGz.length}`,
      body: goodGz.subarray(0, at),
      headers: { 'content-encoding': 'gzip' },
      status: 400,
    });
  }
  const badCrc = Buffer.from(goodGz);
  badCrc[badCrc.length - 6] = (badCrc[badCrc.length - 6] ?? 0) ^ 0xff;
  cases.push({
    name: 'gzip with a bad CRC',
    body: badCrc,
    headers: { 'content-encoding': 'gzip' },
    status: 400,
  });
  const badBlock = Buffer.from(goodGz);
  badBlock[12] = 0xff;
  badBlock[13] = 0xff;
  cases.push({
    name: 'gzip with a corrupt block',
    body: badBlock,
    headers: { 'content-encoding': 'gzip' },
    status: 400,
  });
  cases.push({
    name: 'gzip header then garbage',
    body: Buffer.concat([goodGz.subarray(0, 10), Buffer.from('garbage!garbage!')]),
    headers: { 'content-encoding': 'gzip' },
    status: 400,
  });
  cases.push({
    name: 'plain JSON labelled gzip',
    body: goodText,
    headers: { 'content-encoding': 'gzip' },
    status: 400,
  });
  cases.push({
    name: 'gzip of gzip',
    body: gzipSync(goodGz),
    headers: { 'content-encoding': 'gzip' },
    status: 400,
  });
  cases.push({
    name: 'empty gzip body',
    body: '',
    headers: { 'content-encoding': 'gzip' },
    status: 400,
  });
  for (const encoding of [
    'br',
    'deflate',
    'compress',
    'zstd',
    'gzip, br',
    'gzip, gzip',
    'identity, gzip',
    'bogus',
  ]) {
    cases.push({
      name: `Content-Encoding ${encoding}`,
      body: goodGz,
      headers: { 'content-encoding': encoding },
      status: 415,
    });
  }
  for (const type of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/jsonp',
    'json',
  ]) {
    cases.push({
      name: `Content-Type ${type}`,
      body: goodText,
      headers: { 'content-type': type },
      status: 415,
    });
  }
  cases.push({
    name: 'no Content-Type',
    body: goodText,
    headers: { 'content-type': '' },
    status: 415,
  });

  // Wrong method, path and framing.
  cases.push({ name: 'GET on snapshot.push', body: '', method: 'GET', status: 405 });
  cases.push({ name: 'PUT on snapshot.push', body: goodText, method: 'PUT', status: 405 });
  cases.push({ name: 'DELETE on snapshot.push', body: '', method: 'DELETE', status: 405 });
  cases.push({
    name: 'batched push',
    body: JSON.stringify({ 0: good }),
    path: '/trpc/snapshot.push?batch=1',
    status: 400,
  });
  cases.push({
    name: 'batch of push and list',
    body: JSON.stringify({ 0: good }),
    path: '/trpc/snapshot.push,host.list?batch=1',
    status: 400,
  });
  cases.push({
    name: 'unknown procedure',
    body: goodText,
    path: '/trpc/snapshot.pull',
    status: 404,
  });
  cases.push({ name: 'push through a query path', body: goodText, path: '/trpc/host.list' });
  cases.push({
    name: 'wrapped in an input envelope',
    body: JSON.stringify({ json: good }),
    status: 400,
  });
  cases.push({ name: 'wrapped in an array', body: JSON.stringify([good]), status: 400 });
  return cases;
}
