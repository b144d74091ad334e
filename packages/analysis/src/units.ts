// Commands, sizes and lengths of time as people read them, shared by every table and report:
// sizes stay in KiB and times in milliseconds everywhere else and are formatted only at the edge.

/** The command as `ps` shows it: the command line, or `[comm]` for a process without one. */
export function commandText(p: { cmdline: string; comm: string }): string {
  return p.cmdline === '' ? `[${p.comm}]` : p.cmdline;
}

/** KiB as pmap-style binary units: `812K`, `4.2M`, `1.5G`; `-` for nothing. */
export function formatKb(kb: number | null): string {
  if (kb === null || !Number.isFinite(kb)) return '-';
  const sign = kb < 0 ? '-' : '';
  let v = Math.abs(kb);
  for (const unit of ['K', 'M', 'G']) {
    if (v < 1024) return `${sign}${v >= 100 || unit === 'K' ? Math.round(v) : v.toFixed(1)}${unit}`;
    v /= 1024;
  }
  return `${sign}${v >= 100 ? Math.round(v) : v.toFixed(1)}T`;
}

/** A length of time in its two largest units: `45s`, `30m`, `3h20m`, `36h`, `4d2h`, `7d`. */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  // Up to two days in hours: "36h" reads faster than "1d12h".
  if (h < 48) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
}

/**
 * The Unicode bidi controls, as the body of a regular expression's character class: embeddings
 * and overrides U+202A–U+202E, isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C. They
 * reorder what a reader sees, so that a command line from a monitored host reads as something
 * else; every table and report shows them as `?`.
 */
export const BIDI_CONTROLS = '\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
