/** pmap's table layouts: none, -x, -d, -X, -XX, and -c/-C (an rc file picks the -X columns). */
export type PmapMode = 'default' | 'extended' | 'device' | 'X' | 'XX' | 'rc';

export interface PmapRange {
  /** Lowest address of interest (inclusive). */
  low: bigint;
  /** Highest address of interest (inclusive). */
  high: bigint;
}

export const FULL_RANGE: PmapRange = Object.freeze({ low: 0n, high: (1n << 64n) - 1n });

export interface PmapOptions {
  mode: PmapMode;
  /** -q: no column header and no footer (and, in the smaps table, widths from the values only). */
  quiet: boolean;
  /** -p, after any `ShowPath` toggles of an rc file. */
  showPath: boolean;
  /** -A; only the default, -x and -d layouts use it. */
  range: PmapRange;
  /** The `[Fields Display]` names of the rc file, for mode `rc`. */
  rcFields?: ReadonlySet<string>;
  /**
   * Minor device number of SysV shared memory segments (major 0). pmap learns it by attaching a
   * segment of its own; callers that cannot do that pass what they found in the maps, or 1.
   */
  shmMinor: number;
  /** Extension: sort the rows by this column (see sortKeysFor); pmap itself prints file order. */
  sort?: string;
}

/** What the renderer needs to know about one process; it never reads files itself. */
export interface PmapProcess {
  /** The Tgid shown in the header line. */
  tgid: number;
  /** The header text after `PID:   ` (see processCommand). */
  command: string;
  /** Field 28 of /proc/PID/stat: a mapping containing it is labelled `[ stack ]`. */
  startStack: bigint;
  /**
   * Text of /proc/TGID/maps (default, -d) or /proc/TGID/smaps (-x, -X, -XX, rc), as a byte
   * string; null when it could not be opened.
   */
  mapText: string | null;
}
