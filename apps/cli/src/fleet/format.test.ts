import { describe, expect, it } from 'vitest';
import { printable, table } from './format.ts';

describe('tables on a terminal', () => {
  it('never pass an escape sequence or a line break from a cell to the screen', () => {
    const hostile = 'java \u001b[2J\u001b]0;owned\u0007 -jar\napp.jar\r\u009b31m';
    const out = table(['PID', 'COMMAND'], [['41', hostile]]);
    const controls = [...out].filter((c) => /\p{Cc}/u.test(c) && c !== '\n');
    expect(controls).toEqual([]);
    // one header line and one row: the line break did not forge a second row
    expect(out.split('\n')).toHaveLength(3);
    expect(out).toContain('java ?[2J?]0;owned? -jar?app.jar??31m');
    expect(printable('plain – text ✓')).toBe('plain – text ✓');
  });
});
