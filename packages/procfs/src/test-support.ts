// Helpers shared by the tests: the captured fixture proc root and lookups in it.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_PROC = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'proc');

/** Pid of the captured process whose comm is `comm` (fixture pids are whatever they were live). */
export function fixturePid(comm: string): number {
  for (const name of readdirSync(FIXTURE_PROC)) {
    if (!/^\d+$/.test(name)) continue;
    const c = readFileSync(join(FIXTURE_PROC, name, 'comm'), 'latin1');
    if (c === `${comm}\n`) return Number(name);
  }
  throw new Error(`no fixture process with comm ${JSON.stringify(comm)}`);
}

export function fixtureText(pid: number, file: string): string {
  return readFileSync(join(FIXTURE_PROC, String(pid), file), 'latin1');
}

/** Returns the error a function throws (fails the test when it does not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an exception');
}
