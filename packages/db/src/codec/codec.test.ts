import { exampleMapping } from '@fleetpmap/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMapping, encodeMapping, mappingHash } from './mapping.ts';
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
