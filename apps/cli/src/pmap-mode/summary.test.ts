import { describe, expect, it } from 'vitest';
import { renderSummary } from './summary.ts';

function entry(range: string, perms: string, name: string, sizeKb: number, rssKb: number): string {
  const head = `${range} ${perms} 00000000 00:00 0 `;
  return [
    name === '' ? head : head.padEnd(73) + name,
    `Size:           ${String(sizeKb).padStart(8)} kB`,
    `Rss:            ${String(rssKb).padStart(8)} kB`,
    `Pss:            ${String(rssKb).padStart(8)} kB`,
    `Private_Dirty:  ${String(rssKb).padStart(8)} kB`,
    'Swap:                  0 kB',
    'VmFlags: rd wr mr mw me ac ',
  ].join('\n');
}

// A 200 MiB heap with 10 MiB resident, and one thread stack below its guard page.
const SMAPS = `${[
  entry('55d000000000-55d00c800000', 'rw-p', '[heap]', 204800, 10240),
  entry('7f0000000000-7f0000001000', '---p', '', 4, 0),
  entry('7f0000001000-7f0000801000', 'rw-p', '', 8192, 16),
  entry('7ffc00000000-7ffc00021000', 'rw-p', '[stack]', 132, 12),
].join('\n')}\n`;

function summary(text: string): string {
  let out = '';
  renderSummary(
    { pid: 7, proc: { tgid: 7, command: 'app', startStack: 0x7ffc00020000n, mapText: text } },
    (s) => {
      out += s;
    },
  );
  return out;
}

describe('--summary', () => {
  it('totals each region class and counts thread stacks', () => {
    const lines = summary(SMAPS).split('\n');
    expect(lines[0]).toBe('7:   app');
    expect(lines[1]).toBe('Class    Count Size KiB RSS KiB PSS KiB PrivDirty KiB Swap KiB');
    expect(lines[2]).toBe('heap         1   204800   10240   10240         10240        0');
    expect(lines[3]).toBe('stack        1      132      12      12            12        0');
    expect(lines[4]).toBe('anon         2     8196      16      16            16        0');
    expect(lines[8]).toBe('total        4   213128   10268   10268         10268        0');
    expect(lines[9]).toBe('thread stacks: 1');
  });

  it('hints at fragmentation when a big heap is mostly not resident, and not otherwise', () => {
    expect(summary(SMAPS)).toContain(
      'hint: the heap is 204800 KiB but only 10240 KiB (5%) is resident',
    );
    const dense = `${entry('55d000000000-55d00c800000', 'rw-p', '[heap]', 204800, 204800)}\n`;
    expect(summary(dense)).not.toContain('hint:');
  });
});
