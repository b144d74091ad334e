// Replays every golden case: fleetpmap reads the frozen /proc files through FLEETPMAP_PROC_ROOT
// and must print exactly what the real pmap printed when they were captured. Needs neither pmap
// nor root, so it runs everywhere.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameOutcome, runTitle } from './compare.ts';
import { argsOf, collectFiles, jobFor, type Outcome, prepareRunDir } from './driver.ts';
import { executeAll } from './exec.ts';
import { type GoldenCase, type GoldenRun, goldenRoot, readExpected } from './golden.ts';

// Listed synchronously: vitest needs the test names before any hook runs.
const goldens: GoldenCase[] = readdirSync(goldenRoot)
  .sort()
  .map((name) => {
    const dir = join(goldenRoot, name);
    const runs = JSON.parse(readFileSync(join(dir, 'runs.json'), 'utf8')) as GoldenRun[];
    return { name, dir, runs };
  });

let scratch = '';
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fleetpmap-golden-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

it('has golden cases to replay', () => {
  expect(goldens.length).toBeGreaterThan(20);
});

for (const golden of goldens) {
  describe(golden.name, () => {
    const actual = new Map<string, Outcome>();
    beforeAll(async () => {
      const dirs = await Promise.all(golden.runs.map((run) => prepareRunDir(scratch, run)));
      const jobs = golden.runs.map((run, i) => {
        const dir = dirs[i] ?? scratch;
        return jobFor('fleetpmap', run, argsOf(run, dir), dir, {
          FLEETPMAP_PROC_ROOT: join(golden.dir, 'proc'),
        });
      });
      const results = await executeAll(jobs, 4);
      for (const [i, run] of golden.runs.entries()) {
        const result = results[i];
        if (result === undefined) continue;
        actual.set(run.id, { ...result, files: await collectFiles(run, dirs[i] ?? scratch) });
      }
    }, 600_000);
    for (const run of golden.runs) {
      it(runTitle(run), async () => {
        const got = actual.get(run.id);
        if (got === undefined) throw new Error('fleetpmap did not run');
        expectSameOutcome(`golden ${golden.name}/${run.id}`, got, await readExpected(golden, run));
      });
    }
  });
}
