// Captures real /proc files of a few live processes into src/fixtures/proc, a small proc root the
// tests read like /proc. Run as root: npx node packages/procfs/scripts/capture-fixtures.ts
// Captured: the fixture workload (threads, memfd, SysV, odd paths, odd comm), `sleep`, pid 1 (its
// maps are not readable here: only the files that are), and kthreadd (pid 2).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'fixtures', 'proc');
const FILES = ['stat', 'status', 'cmdline', 'comm', 'cgroup', 'maps', 'smaps', 'smaps_rollup'];

function copyProc(pid: number): void {
  const dir = join(out, String(pid));
  mkdirSync(dir, { recursive: true });
  for (const f of FILES) {
    try {
      writeFileSync(join(dir, f), readFileSync(`/proc/${pid}/${f}`));
    } catch (err) {
      console.error(`skip /proc/${pid}/${f}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
}

const work = mkdtempSync(join(tmpdir(), 'procfs-fixtures-'));
const children: ReturnType<typeof spawn>[] = [];
try {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'sys', 'kernel', 'random'), { recursive: true });
  mkdirSync(join(out, 'self'), { recursive: true });
  writeFileSync(
    join(out, 'sys', 'kernel', 'random', 'boot_id'),
    readFileSync('/proc/sys/kernel/random/boot_id'),
  );
  writeFileSync(
    join(out, 'sys', 'kernel', 'osrelease'),
    readFileSync('/proc/sys/kernel/osrelease'),
  );
  writeFileSync(join(out, 'meminfo'), readFileSync('/proc/meminfo'));
  writeFileSync(join(out, 'stat'), readFileSync('/proc/stat'));
  writeFileSync(join(out, 'self', 'auxv'), readFileSync('/proc/self/auxv'));

  const bin = join(work, 'fixture-workload');
  execFileSync('gcc', ['-O1', '-pthread', '-o', bin, join(here, 'fixture-workload.c')]);
  const files = join(work, 'files');
  mkdirSync(files);
  const wl = spawn(bin, [files], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(wl);
  await new Promise<void>((resolve, reject) => {
    wl.stdout?.once('data', () => resolve());
    wl.once('exit', (code) => reject(new Error(`workload exited with ${code}`)));
  });
  const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore' });
  children.push(sleeper);
  await new Promise((r) => setTimeout(r, 200));
  for (const pid of [wl.pid, sleeper.pid, 1, 2]) if (pid !== undefined) copyProc(pid);
  console.log(`workload ${wl.pid}, sleep ${sleeper.pid}, pid 1, pid 2 -> ${out}`);
} finally {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
