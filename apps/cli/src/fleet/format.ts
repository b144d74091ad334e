// The small module alone: the whole analysis package would add ~80 ms to commands that print.
import { BIDI_CONTROLS } from '@fleetpmap/analysis/units';
import Table from 'cli-table3';

/**
 * What must not reach the operator's terminal as it is: control characters (ESC, CSI, BEL, line
 * breaks, C1), the Unicode line and paragraph separators, and the bidi controls, which reorder
 * what is shown so that a command line reads as something else.
 */
const UNSAFE = new RegExp(`[\\p{Cc}\\u2028\\u2029${BIDI_CONTROLS}]`, 'gu');

/**
 * Text as a terminal may show it: command lines, host names, labels and paths come from the
 * monitored hosts, and an escape sequence in one could rewrite the operator's screen, forge rows
 * or reorder a line. Each character above becomes `?`. Every text from a host or the server goes
 * through here before it is printed; CSV and JSON keep the text as it is.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, '?');
}

// The same characters as UTF-8 bytes, for text held one byte per JS char (what pmap's renderer
// takes): C0 and DEL, C1 (C2 80–9F), U+061C (D8 9C), U+200E/F and U+2028–U+202E (E2 80 …),
// U+2066–U+2069 (E2 81 A6–A9).
const UNSAFE_UTF8 =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what is replaced
  /[\x00-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what is replaced
const UNSAFE_BYTE = /[\x00-\x1f\x7f-\x9f]/g;

/**
 * `printable` for a byte string (one JS char per byte). On a UTF-8 terminal each sequence of an
 * unsafe character becomes one `?`; on any other a lone byte 0x80–0x9F is a C1 control itself.
 */
export function printableBytes(bytes: string, utf8: boolean): string {
  return bytes.replace(utf8 ? UNSAFE_UTF8 : UNSAFE_BYTE, '?');
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
