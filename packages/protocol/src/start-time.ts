import type { Host } from './snapshot.ts';

/**
 * When a process started, ms since the epoch: the host's boot time plus the process's
 * `startTicks` (field 22 of /proc/PID/stat, clock ticks after boot). Null when the snapshot has
 * no `bootTimeMs` (an agent that predates it) or the figures do not make a time. `btime` is in
 * whole seconds, so the result may be up to a second early.
 */
export function processStartMs(
  host: Pick<Host, 'bootTimeMs' | 'clockTicksPerSec'>,
  startTicks: number,
): number | null {
  if (host.bootTimeMs === undefined) return null;
  const ms = host.bootTimeMs + Math.floor((startTicks * 1000) / host.clockTicksPerSec);
  return Number.isSafeInteger(ms) ? ms : null;
}
