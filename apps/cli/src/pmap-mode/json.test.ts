import { describe, expect, it } from 'vitest';
import { renderJson } from './json.ts';

const line = (range: string, name: string) =>
  `${`${range} r--p 00000000 fe:00 42 `.padEnd(73)}${name}\nSize:                  4 kB\nRss:                   4 kB\nTHPeligible:    0\nVmFlags: rd mr mw me \n`;

describe('--json', () => {
  it('keeps valid UTF-8 as text and gives other bytes in base64 beside a lossy text', () => {
    const utf8 = Buffer.from('/srv/été.bin', 'utf8').toString('latin1');
    const smaps = line('1000-2000', utf8) + line('2000-3000', '/srv/bad\xff.bin');
    const json = renderJson([
      { pid: 5, proc: { tgid: 5, command: 'app', startStack: 0n, mapText: smaps } },
      { pid: 6, error: 'not found' },
    ]);
    const doc = JSON.parse(Buffer.from(json, 'latin1').toString('utf8'));
    const [a, b] = doc.processes[0].mappings;
    expect(a.path).toBe('/srv/été.bin');
    expect(a.pathBase64).toBeUndefined();
    expect(b.path).toBe('/srv/bad\uFFFD.bin');
    expect(Buffer.from(b.pathBase64, 'base64')).toEqual(Buffer.from('/srv/bad\xff.bin', 'latin1'));
    expect(a).toMatchObject({
      kb: { Size: 4, Rss: 4 },
      extra: { THPeligible: '0' },
      class: 'file',
    });
    expect(a.vmFlags).toEqual(['rd', 'mr', 'mw', 'me']);
    expect(doc.processes[0].totalsKb).toEqual({ Size: 8, Rss: 8 });
    expect(doc.processes[1]).toEqual({ pid: 6, error: 'not found' });
  });
});
