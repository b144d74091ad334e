import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRcFile, RC_TEMPLATE } from './rc-file.ts';

const PMAP = '/usr/bin/pmap';
const havePmap = existsSync(PMAP);
if (!havePmap && process.env.CI !== 'true') {
  console.log(`skipping the template comparison: ${PMAP} is not installed`);
}

describe('rc file', () => {
  it.skipIf(!havePmap && process.env.CI !== 'true')(
    'has the template bytes the real pmap -N writes',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'pmaprc-'));
      try {
        execFileSync(PMAP, ['-N', join(dir, 'rc')], { stdio: 'ignore' });
        expect(RC_TEMPLATE).toBe(readFileSync(join(dir, 'rc'), 'latin1'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('enables nothing in the template', () => {
    const rc = parseRcFile(RC_TEMPLATE);
    expect(rc).toEqual({ fields: new Set(), toggleShowPath: false, warnings: [] });
  });

  it('reads fields and toggles ShowPath once per entry', () => {
    const rc = parseRcFile('[Fields Display]\n  Rss\n\tPss # comment\n[Mapping]\nShowPath\n');
    expect([...rc.fields]).toEqual(['Rss', 'Pss']);
    expect(rc.toggleShowPath).toBe(true);
    expect(parseRcFile('[Mapping]\nShowPath\nShowPath\n').toggleShowPath).toBe(false);
  });

  it('warns about unknown sections, stray text and entries outside a section, and goes on', () => {
    const rc = parseRcFile('Rss\n[Other]\nx\n[Fields Display] Size\n[Broken\nRss extra\n');
    expect(rc.warnings).toEqual([
      'syntax error found in the config - line 1',
      'unsupported section found in the config - line 2',
      'syntax error found in the config - line 4',
      'syntax error found in the config - line 5',
      'syntax error found in the config - line 6',
    ]);
    expect([...rc.fields]).toEqual(['Size', 'Rss']);
  });
});
