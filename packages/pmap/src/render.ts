import { renderMapsTable } from './maps-table.ts';
import type { PmapOptions, PmapProcess } from './options.ts';
import { renderSmapsTable } from './smaps-table.ts';

/** Whether a layout reads /proc/PID/smaps (otherwise /proc/PID/maps). */
export function readsSmaps(mode: PmapOptions['mode']): boolean {
  return mode !== 'default' && mode !== 'device';
}

/** Whether a layout is the smaps table (-X, -XX, rc file) rather than a fixed-column one. */
export function smapsTableMode(mode: PmapOptions['mode']): boolean {
  return mode === 'X' || mode === 'XX' || mode === 'rc';
}

/**
 * Renders one process as pmap 4.0.2 does in the chosen layout, header line included. Returns the
 * process's status (0, or 1 when its map could not be opened); throws PmapFormatError where pmap
 * stops on malformed smaps.
 */
export function renderProcess(
  proc: PmapProcess,
  opts: PmapOptions,
  out: (text: string) => void,
): number {
  return smapsTableMode(opts.mode)
    ? renderSmapsTable(proc, opts, out)
    : renderMapsTable(proc, opts, out);
}
