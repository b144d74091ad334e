import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 60_000 });

const BIN = fileURLToPath(new URL('../bin/fleetpmap.js', import.meta.url));
const run = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
  });

describe('fleetpmap entry point', () => {
  it('lists the subcommands with `help` and shows one command in full with `help NAME`', () => {
    const all = run(['help']);
    expect(all.status).toBe(0);
    expect(all.stdout).toMatch(/\n {2}hosts +list the hosts/);
    expect(all.stdout).toMatch(/\n {2}token +create, list and revoke/);
    const one = run(['help', 'hosts']);
    expect(one.status).toBe(0);
    expect(one.stdout).toContain('Usage: fleetpmap hosts [options]');
    expect(one.stdout).toContain('--server <url>');
  });

  it('treats anything that is not a subcommand as pmap mode', () => {
    const r = run(['-V']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^fleetpmap \d+\.\d+\.\d+\n$/);
    const bad = run(['nosuchcommand']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^\nUsage:\n pmap \[options\] PID \[PID \.\.\.\]\n/);
  });
});
