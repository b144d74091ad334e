import { describe, expect, it } from 'vitest';
import { renderTop } from './top.ts';

describe('top with nothing to show', () => {
  it('says nothing is judged leaking, and with --all that no process has data yet', () => {
    expect(renderTop([])).toBe(
      'no process is judged leaking in this window (--all lists every one)\n',
    );
    // --all lists every process with data: an empty list is a window the aggregates do not
    // reach yet, and pointing at --all again would send the user in a circle.
    expect(renderTop([], Date.now(), true)).toMatch(/^no process has data in this window yet/);
  });
});
