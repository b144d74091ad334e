import { describe, expect, it } from 'vitest';
import { exampleMapping, exampleProcess, exampleSnapshot } from './example.ts';
import { LIMITS } from './limits.ts';
import { formatIssuePath, parseSnapshot, snapshotSchemaAt } from './snapshot.ts';
import { parseSnapshotFast, snapshotInputAt } from './snapshot-input.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

// One instance of each, as the server holds them (zod compiles a schema on its first use).
const zodSchema = snapshotSchemaAt(() => NOW);
const fastSchema = snapshotInputAt(() => NOW)['~standard'];

function viaZod(input: unknown) {
  const r = zodSchema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  return { ok: false, path: formatIssuePath(issue?.path ?? []), message: issue?.message };
}

async function viaFast(input: unknown) {
  const r = await fastSchema.validate(input);
  if (!r.issues) return { ok: true, value: r.value };
  const issue = r.issues[0];
  const path = (issue?.path ?? []).map((p) => (typeof p === 'object' ? p.key : p));
  return { ok: false, path: formatIssuePath(path), message: issue?.message };
}

/** A snapshot that uses every optional field of a process and of a mapping. */
function richSnapshot() {
  return exampleSnapshot({
    processes: [
      exampleProcess({
        commBase64: 'amF2YQ==',
        cmdlineBase64: 'amF2YQ==',
        cmdlineTruncated: true,
        exeBase64: 'amF2YQ==',
        tier: 'full',
        rollup: {
          rssKb: 1,
          pssKb: 1,
          pssAnonKb: 1,
          pssFileKb: 0,
          pssShmemKb: 0,
          sharedCleanKb: 0,
          sharedDirtyKb: 0,
          privateCleanKb: 0,
          privateDirtyKb: 1,
          anonymousKb: 1,
          swapKb: 0,
          swapPssKb: 0,
          lockedKb: 0,
        },
        regions: Object.fromEntries(
          ['heap', 'stack', 'anon', 'file', 'shmem', 'special'].map((k) => [
            k,
            { count: 1, sizeKb: 4, rssKb: 4, pssKb: 4, privateDirtyKb: 4, swapKb: 0 },
          ]),
        ) as never,
        mappings: [exampleMapping({ pathBase64: 'W2hlYXBd', extra: { THPeligible: '0' } })],
      }),
      exampleProcess({ pid: 9, error: { code: 'EACCES', message: 'denied' } }),
    ],
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every place in a JSON tree, as a path of keys. */
function paths(node: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) out.push(...paths(v, [...prefix, i]));
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

function withValue(root: Json, path: (string | number)[], value: Json | undefined): Json {
  const copy = structuredClone(root);
  if (path.length === 0) return value ?? null;
  let node = copy as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, Json>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

const HOSTILE: (Json | undefined)[] = [
  undefined,
  null,
  -1,
  0,
  1,
  1.5,
  -0,
  2 ** 53,
  LIMITS.maxKb + 1,
  '',
  'x',
  'A',
  'ffff',
  '0X1',
  'r-xp',
  'fe:01',
  'x'.repeat(65),
  'x'.repeat(4097),
  true,
  [],
  ['rd'],
  ['RD'],
  {},
  { Rss: 1 },
  { 'bad-key': 1 },
  { Rss: -1 },
  { __proto__x: '1' },
];

describe('the fast snapshot check', () => {
  it('accepts exactly what the zod schema accepts, with the same first issue, field by field', async () => {
    const base = JSON.parse(JSON.stringify(richSnapshot())) as Json;
    let cases = 0;
    let accepted = 0;
    for (const path of paths(base)) {
      for (const value of HOSTILE) {
        const input = withValue(base, path, value);
        const slow = viaZod(structuredClone(input));
        const fast = await viaFast(structuredClone(input));
        expect(fast, JSON.stringify(path)).toEqual(slow);
        cases++;
        if (slow.ok) accepted++;
      }
      // an unknown key beside this one (JSON has no named keys on arrays)
      if (typeof path[path.length - 1] === 'string') {
        const input = withValue(base, [...path.slice(0, -1), 'surprise'], 1);
        expect(await viaFast(input)).toEqual(viaZod(structuredClone(input)));
      }
    }
    // Both outcomes were exercised many times.
    expect(accepted).toBeGreaterThan(100);
    expect(cases - accepted).toBeGreaterThan(1000);
  }, 60_000);

  it('refuses a duplicate pid, a future snapshot and a __proto__ kB key as zod does', () => {
    const snap = richSnapshot();
    const dup = { ...snap, processes: [exampleProcess(), exampleProcess()] };
    expect(parseSnapshotFast(dup, { nowMs: NOW })).toEqual(parseSnapshot(dup, { nowMs: NOW }));
    expect(parseSnapshotFast(dup, { nowMs: NOW }).ok).toBe(false);
    const future = { ...snap, takenAtMs: NOW + 3_600_000 };
    expect(parseSnapshotFast(future, { nowMs: NOW }).ok).toBe(false);
    const proto = JSON.parse(
      JSON.stringify(snap).replace('"Size":132', '"__proto__":5,"Size":132'),
    ) as unknown;
    expect(parseSnapshotFast(proto, { nowMs: NOW })).toEqual(parseSnapshot(proto, { nowMs: NOW }));
  });

  it('refuses a kB field, extra field or label named __proto__ by name rather than drop it', async () => {
    // JSON.parse keeps such a key as an own property; a record built from it by assignment
    // would set the prototype instead and the entry would vanish from what is stored.
    const text = JSON.stringify(richSnapshot());
    const field = 'a kernel field name, not __proto__';
    for (const [find, put, path, message] of [
      ['"Size":132', '"__proto__":5,"Size":132', 'processes[0].mappings[0].kb', field],
      [
        '"THPeligible":"0"',
        '"THPeligible":"0","__proto__":"1"',
        'processes[0].mappings[0].extra',
        field,
      ],
      ['"labels":{', '"labels":{"__proto__":"prod",', 'host.labels', 'a label key, not __proto__'],
    ] as const) {
      expect(text).toContain(find);
      const input = JSON.parse(text.replace(find, put)) as unknown;
      const refusal = { ok: false, path: `${path}.__proto__`, message };
      expect(viaZod(input)).toEqual(refusal);
      expect(await viaFast(input)).toEqual(refusal);
      expect(parseSnapshot(input, { nowMs: NOW })).toEqual(refusal);
    }
  });

  it('is a Standard Schema whose issues are zod issues', async () => {
    const schema = snapshotInputAt(() => NOW)['~standard'];
    const input = richSnapshot();
    const ok = await schema.validate(input);
    expect(ok.issues).toBeUndefined();
    // the fast path vouched for it: the records were not copied
    expect(ok.issues === undefined && ok.value.processes).toBe(input.processes);
    const bad = await schema.validate({ ...richSnapshot(), takenAtMs: 5 });
    expect(bad.issues?.[0]?.path).toEqual(['takenAtMs']);
  });
});
