// Shapes shared by the tables of top, ps and diff. Sizes arrive in KiB and are formatted only
// here, at the edge.

/** RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled. */
export function csv(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const field = (v: string) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return `${[head, ...rows].map((r) => r.map(field).join(',')).join('\r\n')}\r\n`;
}

/** KiB as pmap-style binary units: `812K`, `4.2M`, `1.5G`. */
export function formatKb(kb: number | null): string {
  if (kb === null || !Number.isFinite(kb)) return '-';
  const sign = kb < 0 ? '-' : '';
  let v = Math.abs(kb);
  for (const unit of ['K', 'M', 'G', 'T']) {
    if (v < 1024 || unit === 'T') {
      return `${sign}${v >= 100 || unit === 'K' ? Math.round(v) : v.toFixed(1)}${unit}`;
    }
    v /= 1024;
  }
  return `${sign}${v}T`;
}

/** A length of time in its two largest units: `45s`, `12m`, `3h20m`, `4d2h`. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
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
