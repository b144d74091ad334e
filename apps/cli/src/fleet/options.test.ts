import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/fleetpmap.js', import.meta.url));
const run = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: '/nonexistent' },
  });

describe('--json and --csv', () => {
  it.each([['top'], ['ps'], ['diff', 'web-1:812'], ['report', 'list']])(
    '%s refuses both at once before asking the server',
    (...command) => {
      for (const order of [
        ['--json', '--csv'],
        ['--csv', '--json'],
      ]) {
        const r = run([...command, ...order, '--server', 'http://127.0.0.1:1']);
        expect(r.status).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(
          /^error: option '--(json|csv)' cannot be used with option '--(csv|json)'\n/,
        );
      }
    },
  );
});
