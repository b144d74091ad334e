import { readFileSync, statfsSync } from 'node:fs';
import type { Logger } from 'pino';

/** The capability whose ptrace-read check opens every process's smaps, smaps_rollup and exe. */
export const CAP_SYS_PTRACE = 19;

/** procfs's f_type (PROC_SUPER_MAGIC): a fixture tree needs no privileges to read. */
const PROC_SUPER_MAGIC = 0x9fa0;

/** Whether `CapEff` of a /proc/PID/status text has `bit`; undefined when it has no CapEff. */
export function hasEffectiveCapability(statusText: string, bit: number): boolean | undefined {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(statusText);
  if (!m?.[1]) return undefined;
  return ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

export const NO_PTRACE_MESSAGE =
  'the agent runs without CAP_SYS_PTRACE: smaps, smaps_rollup and the exe link of other ' +
  "users' processes (and of non-dumpable ones of its own user) cannot be read; their records " +
  'carry the cheap tier only, with an EACCES error. Grant it CAP_SYS_PTRACE (the systemd unit ' +
  'does) to read every process in full';

/**
 * Logs once, at start, that the agent lacks CAP_SYS_PTRACE (root without it lacks it too), when
 * it reads a real proc file system: otherwise the refusals come one per process, in the records.
 */
export function warnWithoutPtrace(
  log: Pick<Logger, 'warn'>,
  procRoot: string,
  readStatus: () => string = () => readFileSync('/proc/self/status', 'utf8'),
): void {
  try {
    if (statfsSync(procRoot).type !== PROC_SUPER_MAGIC) return;
    if (hasEffectiveCapability(readStatus(), CAP_SYS_PTRACE) !== false) return;
  } catch {
    return;
  }
  log.warn({ capability: 'CAP_SYS_PTRACE' }, NO_PTRACE_MESSAGE);
}
