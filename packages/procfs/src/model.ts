// Shared data model of what the procfs parsers produce.
//
// Text taken from /proc (paths, comm, cmdline) is kept as a *byte string*: the file is decoded as
// latin1, so each JS char is exactly one byte of the kernel's text. Nothing is lost for names that
// are not valid UTF-8, and the pmap renderer can write the same bytes back with
// Buffer.from(text, 'latin1'). Convert to UTF-8 only at an output boundary (JSON, the wire).

/** One line of /proc/PID/maps, and the head line of an smaps entry. */
export interface MapsEntry {
  /** Start address as the kernel prints it: lower-case hex, no `0x` (e.g. `5604847ef000`, `00400000`). */
  start: string;
  /** End address (exclusive), same form as `start`. */
  end: string;
  /** Four permission characters, e.g. `r-xp`, `rw-s`. */
  perms: string;
  /** File offset, kernel hex text (e.g. `00000000`). */
  offset: string;
  /** Device `major:minor` in hex, as printed (e.g. `fe:01`). */
  dev: string;
  /** Inode number, decimal text as printed (may exceed 2^53). */
  inode: string;
  /**
   * Everything after the inode and its padding, byte string. Empty for anonymous mappings; kernel
   * pseudo-names (`[heap]`, `[anon:name]`, …) and the ` (deleted)` suffix are kept as they are;
   * the kernel's own escapes (`\012` for a newline) stay escaped.
   */
  path: string;
  /** 1-based line number in the file where this mapping's line starts (for error messages). */
  line: number;
}

/** One entry of /proc/PID/smaps: the mapping line and every line that follows it. */
export interface SmapsEntry extends MapsEntry {
  /** Every `Key:   N kB` line, value in KiB, by the kernel's field name (unknown keys included). */
  kb: Record<string, number>;
  /**
   * Every other `Key: value` line except VmFlags (`THPeligible`, `ProtectionKey`, fields of future
   * kernels), value text trimmed, as printed.
   */
  extra: Record<string, string>;
  /**
   * Names of the `kb` and `extra` lines in the order the kernel printed them (pmap -X/-XX column
   * order). Entries with the same layout may share one array: treat it as read-only.
   */
  fieldOrder: readonly string[];
  /** The two-letter VmFlags, in order; `null` when the entry had no VmFlags line. */
  vmFlags: string[] | null;
}
