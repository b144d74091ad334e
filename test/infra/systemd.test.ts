import { describe, expect, it } from 'vitest';
import {
  AGENT_UNIT,
  SERVER_UNIT,
  systemdDirectives,
  unitCapabilities,
} from './deployment-files.ts';
import { SERVER_SHUTDOWN_DRAIN_S, SERVER_SHUTDOWN_JOB_MARGIN_S } from './server-shutdown.ts';

/** A systemd time span (`20s`, `1min 30s`, plain seconds) in seconds. */
function systemdSeconds(span: string): number {
  const unit: Record<string, number> = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let seconds = 0;
  for (const part of span.trim().split(/\s+/)) {
    const match = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(part);
    const factor = unit[match?.[2] || 's'];
    if (!match || factor === undefined) throw new Error(`not a systemd time span: ${span}`);
    seconds += Number(match[1]) * factor;
  }
  return seconds;
}

describe('the agent unit', () => {
  it('grants CAP_SYS_PTRACE alone, bounding and ambient', () => {
    expect(unitCapabilities(AGENT_UNIT, 'CapabilityBoundingSet')).toEqual(['SYS_PTRACE']);
    expect(unitCapabilities(AGENT_UNIT, 'AmbientCapabilities')).toEqual(['SYS_PTRACE']);
  });

  it('denies the system calls CAP_SYS_PTRACE would open beyond reading /proc', () => {
    const filters = systemdDirectives(AGENT_UNIT).get('SystemCallFilter') ?? [];
    const denied = filters
      .filter((f) => f.startsWith('~'))
      .flatMap((f) => f.slice(1).trim().split(/\s+/));
    for (const call of ['ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd']) {
      expect(denied, call).toContain(call);
    }
    // open_by_handle_at is in @privileged.
    expect(denied).toContain('@privileged');
  });
});

describe('the server unit', () => {
  it('gives a stopping server the request drain and a running job time', () => {
    const [timeout] = systemdDirectives(SERVER_UNIT).get('TimeoutStopSec') ?? ['90s'];
    expect(systemdSeconds(timeout ?? '')).toBeGreaterThanOrEqual(
      SERVER_SHUTDOWN_DRAIN_S + SERVER_SHUTDOWN_JOB_MARGIN_S,
    );
  });
});
