import Table from 'cli-table3';

/**
 * A cell as a terminal may show it: command lines, host names and paths come from the monitored
 * hosts, and an escape sequence in one (ESC, CSI, BEL, a line break) could rewrite the operator's
 * screen or forge rows. Each control character becomes `?`; CSV and JSON keep the text as it is.
 */
export function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, '?');
}

/**
 * Plain tables: no colours, so output is the same on a TTY, in a pipe and with NO_COLOR. Every
 * cell is made printable.
 */
export function table(head: string[], rows: string[][]): string {
  const t = new Table({
    head,
    style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 0 },
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
  });
  t.push(...rows.map((r) => r.map(printable)));
  return `${t
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')}\n`;
}

/** "3s ago", "5m ago", "2h ago", "4d ago" relative to `nowMs`. */
export function ago(atMs: number | null, nowMs: number): string {
  if (atMs === null) return '-';
  const s = Math.max(0, Math.round((nowMs - atMs) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function isoTime(atMs: number | null): string {
  return atMs === null ? '-' : new Date(atMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
