// Runs inside `unshare -m`: makes the new mount namespace private, bind-mounts the snapshot
// files over /proc/<pid>/… and runs the jobs, so every program in it reads the same bytes.
// Usage: freeze-runner.ts SPEC.json RESULT.json
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { encodeResult, executeAll, type Job } from './exec.ts';

interface Spec {
  binds: [source: string, target: string][];
  jobs: Job[];
}

const [specPath, resultPath] = process.argv.slice(2);
if (specPath === undefined || resultPath === undefined) {
  throw new Error('usage: freeze-runner.ts SPEC.json RESULT.json');
}
const spec = JSON.parse(readFileSync(specPath, 'utf8')) as Spec;
execFileSync('mount', ['--make-rprivate', '/']);
for (const [source, target] of spec.binds) execFileSync('mount', ['--bind', source, target]);
const results = await executeAll(spec.jobs);
writeFileSync(resultPath, JSON.stringify(results.map(encodeResult)));
