import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { procfsSource } from './proc-source.ts';

describe('procfsSource against the real /proc', () => {
  it('reads a command line of 1.4 MB as its first 4096 characters, marked as cut', async () => {
    const script = 'setTimeout(() => {}, 60000)';
    const args = Array.from({ length: 12 }, (_, i) => `${i}`.padEnd(120_000, 'x'));
    const child = spawn(process.execPath, ['-e', script, ...args], { stdio: 'ignore' });
    try {
      const pid = child.pid ?? 0;
      // Until the exec, the child's command line is this process's.
      const head = `${process.execPath}\0-e\0`;
      for (let i = 0; i < 200; i++) {
        if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith(head)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const id = await procfsSource({ procRoot: '/proc' }).readIdentity(pid);
      expect(id.error).toBeUndefined();
      expect(id.cmdline).toBe([process.execPath, '-e', script, ...args].join(' ').slice(0, 4096));
      expect(id.cmdlineTruncated).toBe(true);
      expect(id.cmdlineBase64).toBeUndefined();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
