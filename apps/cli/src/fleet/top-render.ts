// Shapes shared by the tables of top, ps and diff. Sizes arrive in KiB and are formatted only
// here, at the edge, with the units the reports use too.

import { commandText, formatDuration, formatKb } from '@fleetpmap/analysis';

export { commandText, formatDuration, formatKb };

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csv(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const field = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return `${[head, ...rows].map((r) => r.map(field).join(',')).join('\r\n')}\r\n`;
}

/**
 * How long a process has run at `atMs`: since its start when the server knows it, else since it
 * was first seen, which is only a lower bound (its agent sent no boot time).
 */
export function uptimeMs(atMs: number, startedAtMs: number | null, firstSeenMs: number): number {
  return Math.max(0, atMs - (startedAtMs ?? firstSeenMs));
}

/** UPTIME as a table shows it: a leading `>` marks a lower bound (start unknown). */
export function formatUptime(
  atMs: number,
  startedAtMs: number | null,
  firstSeenMs: number,
): string {
  const text = formatDuration(uptimeMs(atMs, startedAtMs, firstSeenMs));
  return startedAtMs === null ? `>${text}` : text;
}

/** Cuts long command lines for a table; --json and --csv keep them whole. */
export function shorten(text: string, max = 48): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
