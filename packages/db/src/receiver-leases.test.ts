import { describe, expect, it, vi } from 'vitest';
import {
  liveReceiverLeases,
  releaseReceiverLeases,
  takeReceiverLeases,
} from './receiver-leases.ts';
import { testDrivers } from './test-db.ts';
import { useTestDb } from './use-test-db.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });

const T0 = Date.UTC(2026, 10, 24, 6, 0, 0);

describe.each(testDrivers())('webhook receiver leases on %s', (driver) => {
  const t = useTestDb(driver);

  it('gives one key to one of twelve holders asking at once, and to another once it runs out', async () => {
    const take = (holder: string, nowMs: number) =>
      takeReceiverLeases(t.db, { groups: [['url:one']], holder, nowMs, untilMs: nowMs + 1_000 });
    const taken = await Promise.all(Array.from({ length: 12 }, (_, n) => take(`p${n}`, T0)));
    const winners = taken.flatMap((keys, n) => (keys ? [`p${n}`] : []));
    expect(winners).toHaveLength(1);
    expect(taken.filter((keys) => keys !== undefined)).toEqual([['url:one']]);
    expect(await take('late', T0 + 999)).toBe(undefined);
    expect(await take('late', T0 + 1_000)).toEqual(['url:one']);
    expect((await liveReceiverLeases(t.db, T0 + 1_000)).get('url:one')).toBe('late');
  });

  it('gives an origin two slots, each with one URL, all or none, to six holders asking at once', async () => {
    const slots = ['origin:h#0', 'origin:h#1'];
    const taken = await Promise.all(
      Array.from({ length: 6 }, (_, n) =>
        takeReceiverLeases(t.db, {
          groups: [[`url:h/${n}`], slots],
          holder: `p${n}`,
          nowMs: T0,
          untilMs: T0 + 1_000,
        }),
      ),
    );
    const got = taken.filter((keys) => keys !== undefined);
    expect(got).toHaveLength(2);
    expect(got.map(([, slot]) => slot).sort()).toEqual(slots);
    // the four that found no slot hold no URL either
    const live = await liveReceiverLeases(t.db, T0);
    expect([...live.keys()].filter((key) => key.startsWith('url:h/')).sort()).toEqual(
      got.map(([url]) => url).sort(),
    );
  });

  it('is given back only by its holder', async () => {
    const keys = await takeReceiverLeases(t.db, {
      groups: [['url:two'], ['origin:two#0']],
      holder: 'p1 #1',
      nowMs: T0,
      untilMs: T0 + 60_000,
    });
    expect(keys).toEqual(['url:two', 'origin:two#0']);
    await releaseReceiverLeases(t.db, { keys: ['url:two', 'origin:two#0'], holder: 'p1 #2' });
    expect((await liveReceiverLeases(t.db, T0)).get('url:two')).toBe('p1 #1');
    await releaseReceiverLeases(t.db, { keys: ['url:two', 'origin:two#0'], holder: 'p1 #1' });
    const live = await liveReceiverLeases(t.db, T0);
    expect(live.has('url:two') || live.has('origin:two#0')).toBe(false);
  });
});
