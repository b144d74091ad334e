import { describe, expect, it } from 'vitest';
import { readProcText } from './read.ts';
import { parseSmapsRollup, readSmapsRollup } from './rollup.ts';
import { parseSmaps } from './smaps.ts';
import { FIXTURE_PROC, fixturePid } from './test-support.ts';

function sum(entries: ReturnType<typeof parseSmaps>, key: string): number {
  return entries.reduce((acc, e) => acc + (e.kb[key] ?? 0), 0);
}

describe('smaps_rollup', () => {
  it('matches the sum over the captured smaps', async () => {
    const pid = fixturePid('sleep');
    const r = await readSmapsRollup(pid, FIXTURE_PROC);
    const entries = parseSmaps(await readProcText(`${FIXTURE_PROC}/${pid}/smaps`), `${pid}/smaps`);
    expect(r).not.toBeNull();
    // An idle sleep does not change between the two reads of the capture.
    expect(r?.rollup.rssKb).toBe(sum(entries, 'Rss'));
    expect(r?.rollup.privateDirtyKb).toBe(sum(entries, 'Private_Dirty'));
    expect(r?.rollup.ussKb).toBe(sum(entries, 'Private_Clean') + sum(entries, 'Private_Dirty'));
    expect(r?.rollup.pssKb).toBe(
      (r?.rollup.pssAnonKb ?? 0) + (r?.rollup.pssFileKb ?? 0) + (r?.rollup.pssShmemKb ?? 0),
    );
    expect(r?.entry.path).toBe('[rollup]');
  });

  it('agrees with the live smaps of this process within a tolerance', async () => {
    const entries = parseSmaps(await readProcText('/proc/self/smaps'), 'smaps');
    const r = await readSmapsRollup('self');
    const rss = sum(entries, 'Rss');
    expect(r).not.toBeNull();
    expect(Math.abs((r?.rollup.rssKb ?? 0) - rss)).toBeLessThan(rss * 0.05 + 1024);
  });

  it('is null for an address space that does not exist', () => {
    expect(parseSmapsRollup('', 'r')).toBeNull();
  });
});
