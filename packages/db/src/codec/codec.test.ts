import { exampleMapping, type Mapping } from '@fleetpmap/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addPoint,
  decodeAggregates,
  encodeAggregates,
  type MetricAggregate,
  mergeAggregate,
  type ProcessAggregate,
} from './aggregate-block.ts';
import { decodeMapping, encodeMapping, KB_NAMES, mappingHash } from './mapping.ts';
import {
  decodeSampleBlock,
  encodeSampleBlock,
  indexByPid,
  REGION_FIELDS,
  ROLLUP_FIELDS,
  STATUS_FIELDS,
  type StoredSample,
} from './sample-block.ts';

const kb = fc.integer({ min: 0, max: 2 ** 50 });
const fields = <K extends string>(names: readonly K[]): fc.Arbitrary<Record<K, number>> =>
  fc.record(Object.fromEntries(names.map((n) => [n, kb])) as Record<K, typeof kb>) as never;
const region = fields(REGION_FIELDS);
const sample: fc.Arbitrary<StoredSample> = fc.record(
  {
    pid: fc.integer({ min: 1, max: 4_194_304 }),
    startTicks: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    threads: fc.integer({ min: 0, max: 100_000 }),
    status: fields(STATUS_FIELDS),
    rollup: fields(ROLLUP_FIELDS),
    regions: fc.record({
      heap: region,
      stack: region,
      anon: region,
      file: region,
      shmem: region,
      special: region,
    }),
    error: fc.record({ code: fc.constantFrom('EACCES', 'ENOENT'), message: fc.string() }),
  },
  { requiredKeys: ['pid', 'startTicks', 'threads', 'status'] },
);
const block = fc.uniqueArray(sample, { selector: (s) => s.pid, maxLength: 40 });

const byPid = (samples: StoredSample[]) => [...samples].sort((a, b) => a.pid - b.pid);

describe('sample blocks', () => {
  it('give back every sample exactly, as keyframes and as deltas against any base', () => {
    fc.assert(
      fc.property(block, block, (base, samples) => {
        expect(byPid(decodeSampleBlock(encodeSampleBlock(samples)))).toEqual(byPid(samples));
        const index = indexByPid(base);
        const decoded = decodeSampleBlock(encodeSampleBlock(samples, index), index);
        expect(byPid(decoded)).toEqual(byPid(samples));
      }),
      { numRuns: 200 },
    );
  });

  it('store a steady process in a few bytes per sample against its keyframe', () => {
    const keyframe: StoredSample[] = Array.from({ length: 200 }, (_, i) => ({
      pid: 100 + i * 7,
      startTicks: 5000 + i,
      threads: 4,
      status: Object.fromEntries(
        STATUS_FIELDS.map((f, j) => [f, 10_000 + i * 977 + j * 131]),
      ) as StoredSample['status'],
    }));
    const next = keyframe.map((s, i) => ({
      ...s,
      status: { ...s.status, rssAnonKb: s.status.rssAnonKb + (i % 5) * 4 },
    }));
    const delta = encodeSampleBlock(next, indexByPid(keyframe));
    expect(delta.length / next.length).toBeLessThan(3);
    // keyframes (one an hour) carry absolute values: 9 fields of 3 bytes plus identity
    expect(encodeSampleBlock(keyframe).length / keyframe.length).toBeLessThan(40);
  });
});

describe('mappings', () => {
  it('round-trip every field, unknown kB fields and field order included', () => {
    const m = exampleMapping({
      kb: { Size: 4, Brand_New: 7, Rss: 4 },
      pathBase64: 'Y2Fm/y5zbw==',
      path: 'caf\uFFFD.so',
    });
    const back = decodeMapping(encodeMapping(m));
    expect(back).toEqual(m);
    expect(Object.keys(back.kb)).toEqual(['Size', 'Brand_New', 'Rss']);
  });

  it('give back a field named __proto__ as the field it was', () => {
    // As JSON.parse makes them from an agent's push: own properties, not the prototype. Set by
    // plain assignment on decoding, the name changed the object's prototype and the field was lost.
    const m = JSON.parse(
      JSON.stringify(exampleMapping({ kb: { Size: 4 }, extra: {} }))
        .replace('"kb":{"Size":4}', '"kb":{"Size":4,"__proto__":9}')
        .replace('"extra":{}', '"extra":{"__proto__":"x","Other":"y"}'),
    ) as Mapping;
    expect(Object.keys(m.kb)).toEqual(['Size', '__proto__']);
    const back = decodeMapping(encodeMapping(m));
    expect(back).toEqual(m);
    expect(Object.keys(back.kb)).toEqual(['Size', '__proto__']);
    expect(Object.keys(back.extra)).toEqual(['__proto__', 'Other']);
    expect(Object.getPrototypeOf(back.extra)).toBe(Object.prototype);
  });

  it('encode byte for byte as the plain TextEncoder form, for any text, so stored hashes stay valid', () => {
    // The stored format, written the plain way: what every stored mapping and hash was made with.
    const reference = (m: Mapping): Uint8Array => {
      const out: number[] = [];
      const uint = (v: number) => {
        let x = v;
        while (x >= 128) {
          out.push((x % 128) | 128);
          x = Math.floor(x / 128);
        }
        out.push(x);
      };
      const str = (v: string) => {
        const b = new TextEncoder().encode(v);
        uint(b.length);
        out.push(...b);
      };
      uint(m.pathBase64 === undefined ? 0 : 1);
      for (const v of [m.start, m.end, m.perms, m.offset, m.dev]) str(v);
      uint(m.inode);
      str(m.path);
      if (m.pathBase64 !== undefined) str(m.pathBase64);
      const kb = Object.entries(m.kb);
      uint(kb.length);
      for (const [name, value] of kb) {
        const idx = (KB_NAMES as readonly string[]).indexOf(name) + 1;
        uint(idx);
        if (idx === 0) str(name);
        uint(value);
      }
      str(m.vmFlags.join(' '));
      const extra = Object.entries(m.extra);
      uint(extra.length);
      for (const [name, value] of extra) {
        str(name);
        str(value);
      }
      return Uint8Array.from(out);
    };
    const text = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme' }),
      fc.string({ minLength: 100, maxLength: 3000 }),
    );
    fc.assert(
      fc.property(
        text,
        text,
        fc.dictionary(
          fc.constantFrom('Size', 'Rss', 'Pss', 'Swap', 'Odd_Field', 'Größe'),
          fc.integer({ min: 0, max: 2 ** 50 }),
        ),
        fc.dictionary(text, text, { maxKeys: 3 }),
        fc.option(text, { nil: undefined }),
        (path, perms, kb, extra, pathBase64) => {
          const m = exampleMapping({
            path,
            perms,
            kb,
            extra,
            ...(pathBase64 === undefined ? {} : { pathBase64 }),
          });
          const encoded = encodeMapping(m);
          expect(Buffer.from(encoded).equals(Buffer.from(reference(m)))).toBe(true);
          expect(decodeMapping(encoded)).toEqual(m);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hash equal contents equally and different contents differently', () => {
    const a = mappingHash(encodeMapping(exampleMapping()));
    const b = mappingHash(encodeMapping(exampleMapping()));
    const c = mappingHash(
      encodeMapping(exampleMapping({ kb: { ...exampleMapping().kb, Rss: 1 } })),
    );
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
  });
});

describe('aggregate blocks', () => {
  const entries = (): ProcessAggregate[] =>
    Array.from({ length: 50 }, (_, i) => {
      const metrics = {};
      for (let k = 0; k < 10; k++) {
        addPoint(metrics, 'anon', k * 30, 10_000 + i * 100 + k * (i % 7));
        addPoint(metrics, 'rss', k * 30, 20_000 + i);
        if (k % 5 === 0) addPoint(metrics, 'pss', k * 30, 5_000 + k);
      }
      return {
        bootId:
          i < 40 ? '6f1d8a52-3c44-4b0e-9d1f-2a7e5c9b0d13' : '0b6f3c1e-2f7a-4d59-9a43-5d1c0e8b7a21',
        pid: 100 + ((i * 37) % 500),
        startTicks: 5_000 + i,
        metrics,
      };
    });
  const sortKey = (a: ProcessAggregate) => `${a.bootId}/${a.pid}/${a.startTicks}`;
  const sorted = (list: ProcessAggregate[]) =>
    [...list].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));

  it('give back every aggregate exactly, and only the metrics asked for', () => {
    const input = entries();
    expect(sorted(decodeAggregates(encodeAggregates(input)))).toEqual(sorted(input));
    const anonOnly = decodeAggregates(encodeAggregates(input), ['anon']);
    expect(sorted(anonOnly)).toEqual(
      sorted(input.map((e) => ({ ...e, metrics: { anon: e.metrics.anon } }))),
    );
  });

  it('merge sub-buckets into the same sums as aggregating the points directly', () => {
    const direct = {};
    const first = {};
    const second = {};
    for (let s = 0; s < 600; s += 30) {
      const kb = 1_000 + s * 2 + (s % 90);
      addPoint(direct, 'anon', s, kb);
      addPoint(s < 300 ? first : second, 'anon', s < 300 ? s : s - 300, kb);
    }
    const merged: Partial<Record<'anon', MetricAggregate>> = {};
    mergeAggregate(merged, 'anon', (first as Record<'anon', MetricAggregate>).anon, 0);
    mergeAggregate(merged, 'anon', (second as Record<'anon', MetricAggregate>).anon, 300);
    expect(merged.anon).toEqual((direct as Record<'anon', MetricAggregate>).anon);
  });
});
