// The fleet leak report as people read it: a Markdown document (issues, wikis, e-mail), a
// standalone HTML page, and a few lines of plain text for a chat webhook. Sizes stay in KiB in the
// report and are formatted only here.
//
// Host names, command lines and binary paths come from the monitored hosts, so any of them may be
// hostile. Both documents are built from one list of plain-text blocks and every text is escaped
// by the writer of its format, never by the code that composes the content. Every format keeps
// each text on one line without control characters (so the page or document printed to a
// terminal sends it no escape sequence) and shows bidi controls as `?` (so no text is reordered).

import type { GroupPivot } from './pivot.ts';
import { describeScope, type LeakReport, type ReportLeak, type ResolvedLeak } from './report.ts';
import { BIDI_CONTROLS, commandText, formatDuration, formatKb } from './units.ts';

const DEFAULT_TITLE = 'fleetpmap leak report';

/** Long enough to tell `java -jar api.jar` from its neighbours, short enough for a table. */
const COMMAND_CHARS = 60;

/** Lines of the chat summary spent on single leaks, after the fleet line. */
const SUMMARY_LEAKS = 3;

export interface ReportRenderOptions {
  title?: string;
}

/** A GitHub-flavoured Markdown document of the report. */
export function renderReportMarkdown(report: LeakReport, opts: ReportRenderOptions = {}): string {
  const title = opts.title ?? DEFAULT_TITLE;
  const out = [`# ${escapeMarkdown(title)}`];
  for (const block of reportBlocks(report)) out.push(markdownBlock(block));
  return `${out.join('\n\n')}\n`;
}

/** One standalone HTML5 page of the report: no scripts, nothing loaded from elsewhere. */
export function renderReportHtml(report: LeakReport, opts: ReportRenderOptions = {}): string {
  const title = escapeHtml(opts.title ?? DEFAULT_TITLE);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    // Defence in depth: should an escape ever be missed, the page still runs no script and
    // fetches nothing.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${title}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${title}</h1>`,
    ...reportBlocks(report).map(htmlBlock),
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/**
 * Up to four plain-text lines for a chat webhook's `text` field: the fleet totals, then the
 * most urgent leaks (none for a quiet fleet). Field values are flattened to one line each, bidi
 * controls shown as `?`, but otherwise left as they are: each chat service has its own markup (Slack reads `<!channel>` as a mention of everyone), so
 * the sender escapes for the service it posts to.
 */
export function reportSummary(report: LeakReport): string {
  const { fleet, changes } = report;
  const n = fleet.leakingProcesses;
  const leaking =
    n === 0
      ? `no process leaks on ${count(fleet.hosts, 'host', 'hosts')}`
      : `${count(n, 'process', 'processes')} ${n === 1 ? 'leaks' : 'leak'} on ` +
        `${integer(fleet.leakingHosts)} of ${count(fleet.hosts, 'host', 'hosts')}`;
  const changed =
    changes === null
      ? ''
      : ` (${integer(changes.newLeaks)} new, ` +
        `${integer(changes.resolved.length + changes.resolvedOmitted)} resolved)`;
  const scope = describeScope(report.scope);
  const lines = [
    `${DEFAULT_TITLE}${scope === null ? '' : ` (${oneLine(scope)})`}, ` +
      `${formatDuration(report.window.ms)} to ${isoTime(report.window.toMs)}: ${leaking}${changed}`,
  ];
  for (const leak of report.leaks.slice(0, SUMMARY_LEAKS)) {
    const limit =
      leak.timeToLimitHours === null
        ? ''
        : `, limit in ${formatDuration(leak.timeToLimitHours * HOUR_MS)}`;
    const since = leak.growingSinceMs == null ? '' : ` since ${isoTime(leak.growingSinceMs)}`;
    lines.push(
      `${oneLine(leak.host)} ${leak.pid} ${shorten(commandText(leak))} ` +
        `${signed(leak.pctPerHour.toFixed(2))}%/h${since}${limit}`,
    );
  }
  return lines.join('\n');
}

type Column = readonly [head: string, align: 'left' | 'right'];

/** A table cell; `full` is the untruncated text, shown where the format has room (HTML title). */
type Cell = string | { text: string; full: string };

type Block =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; columns: readonly Column[]; rows: Cell[][] };

const LEAK_COLUMNS: readonly Column[] = [
  ['Host', 'left'],
  ['PID', 'right'],
  ['Command', 'left'],
  ['Size', 'right'],
  ['Growth', 'right'],
  ['KiB/h', 'right'],
  ['%/h', 'right'],
  ['Confidence', 'right'],
  ['Time to limit', 'right'],
];
const STATUS_COLUMN: Column = ['Status', 'left'];
const SINCE_COLUMN: Column = ['Growing since', 'left'];
const GROUP_COLUMNS: readonly Column[] = [
  ['Binary', 'left'],
  ['Leaking hosts', 'right'],
  ['Leaking processes', 'right'],
  ['Median KiB/h of the leaking', 'right'],
];

/** The report's content, identical for every format. */
function reportBlocks(report: LeakReport): Block[] {
  const { changes, window } = report;
  const blocks: Block[] = [
    {
      kind: 'paragraph',
      text:
        `Window: ${isoTime(window.fromMs)} to ${isoTime(window.toMs)} ` +
        `(${formatDuration(window.ms)}), metric ${report.metric}` +
        `${scopeSuffix(report)}; generated ${isoTime(report.generatedAtMs)}.`,
    },
    { kind: 'paragraph', text: fleetSentence(report) },
  ];
  if (changes !== null) {
    const resolvedCount = changes.resolved.length + changes.resolvedOmitted;
    blocks.push(
      { kind: 'heading', text: 'Changes since the previous report' },
      {
        kind: 'paragraph',
        text:
          `${integer(changes.newLeaks)} new, ${integer(changes.continuingLeaks)} continuing, ` +
          `${integer(resolvedCount)} resolved since report ${changes.previousId} ` +
          `of ${isoTime(changes.previousGeneratedAtMs)}.`,
      },
    );
    if (changes.resolved.length > 0) {
      blocks.push({ kind: 'list', items: changes.resolved.map(resolvedItem) });
    }
    if (changes.resolvedOmitted > 0) {
      blocks.push({
        kind: 'paragraph',
        text: `${count(changes.resolvedOmitted, 'more resolved leak is', 'more resolved leaks are')} not listed.`,
      });
    }
  }
  if (report.leaks.length > 0 || report.leaksOmitted > 0) {
    blocks.push({ kind: 'heading', text: 'Leaking processes' });
  }
  if (report.leaks.length > 0) {
    // The status column only means something against a previous report, the onset column only
    // when some leak began inside the window.
    const withStatus = changes !== null;
    const withSince = report.leaks.some((l) => (l.growingSinceMs ?? null) !== null);
    blocks.push({
      kind: 'table',
      columns: [
        ...LEAK_COLUMNS,
        ...(withSince ? [SINCE_COLUMN] : []),
        ...(withStatus ? [STATUS_COLUMN] : []),
      ],
      rows: report.leaks.map((l) => leakRow(l, withStatus, withSince)),
    });
  }
  if (report.leaksOmitted > 0) {
    blocks.push({
      kind: 'paragraph',
      text: `${count(report.leaksOmitted, 'more leaking process is', 'more leaking processes are')} not listed.`,
    });
  }
  if (report.groups.length > 0 || report.groupsOmitted > 0) {
    blocks.push({ kind: 'heading', text: 'Leaking binaries' });
  }
  if (report.groups.length > 0) {
    blocks.push({
      kind: 'table',
      columns: GROUP_COLUMNS,
      rows: report.groups.map(groupRow),
    });
  }
  if (report.groupsOmitted > 0) {
    blocks.push({
      kind: 'paragraph',
      text: `${count(report.groupsOmitted, 'more leaking binary is', 'more leaking binaries are')} not listed.`,
    });
  }
  return blocks;
}

/** `, hosts web-*` for a report of some hosts only; nothing for the whole fleet. */
function scopeSuffix(report: LeakReport): string {
  const scope = describeScope(report.scope);
  return scope === null ? '' : `, ${scope}`;
}

function fleetSentence({ fleet }: LeakReport): string {
  const watched = `${count(fleet.hosts, 'host', 'hosts')} and ${count(fleet.processes, 'process', 'processes')} watched`;
  const n = fleet.leakingProcesses;
  if (n === 0) return `No process was judged leaking: ${watched}.`;
  return (
    `${count(n, 'process', 'processes')} ${n === 1 ? 'leaks' : 'leak'} on ` +
    `${integer(fleet.leakingHosts)} of ${count(fleet.hosts, 'host', 'hosts')}, out of ` +
    `${count(fleet.processes, 'process', 'processes')} watched; ` +
    `${n === 1 ? 'it grows' : 'together they grow'} by ${formatKb(fleet.leakingKbPerHour)} per hour.`
  );
}

function leakRow(l: ReportLeak, withStatus: boolean, withSince: boolean): Cell[] {
  const command = commandText(l);
  const cells: Cell[] = [
    l.host,
    String(l.pid),
    { text: shorten(command), full: command },
    formatKb(l.currentKb),
    signed(formatKb(l.growthKb)),
    String(Math.round(l.slopeKbPerHour)),
    l.pctPerHour.toFixed(2),
    l.confidence.toFixed(2),
    l.timeToLimitHours === null ? '-' : formatDuration(l.timeToLimitHours * HOUR_MS),
  ];
  if (withSince) cells.push(l.growingSinceMs == null ? '-' : isoTime(l.growingSinceMs));
  if (withStatus) cells.push(l.status ?? '-');
  return cells;
}

function groupRow(g: GroupPivot): Cell[] {
  return [
    { text: shorten(g.group), full: g.group },
    `${integer(g.leakingHosts)} of ${integer(g.hosts)}`,
    integer(g.leakingProcesses),
    g.medianLeakingSlopeKbPerHour === null
      ? '-'
      : String(Math.round(g.medianLeakingSlopeKbPerHour)),
  ];
}

// Starts with fixed words so that a host name cannot begin a Markdown block (`# `, `> `, `1. `).
function resolvedItem(r: ResolvedLeak): string {
  return `pid ${r.pid} on ${r.host}: ${shorten(commandText(r))}`;
}

function markdownBlock(block: Block): string {
  switch (block.kind) {
    case 'heading':
      return `## ${escapeMarkdown(block.text)}`;
    case 'paragraph':
      return escapeMarkdown(block.text);
    case 'list':
      return block.items.map((item) => `- ${escapeMarkdown(item)}`).join('\n');
    case 'table': {
      // Cells are padded with a space on both sides so that an escaped backslash at a cell's end
      // never stands right before the delimiting pipe.
      const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
      return [
        row(block.columns.map(([head]) => escapeMarkdown(head))),
        row(block.columns.map(([, align]) => (align === 'right' ? '--:' : ':--'))),
        ...block.rows.map((cells) => row(cells.map((c) => escapeMarkdown(cellText(c))))),
      ].join('\n');
    }
  }
}

function htmlBlock(block: Block): string {
  switch (block.kind) {
    case 'heading':
      return `<h2>${escapeHtml(block.text)}</h2>`;
    case 'paragraph':
      return `<p>${escapeHtml(block.text)}</p>`;
    case 'list':
      return `<ul>\n${block.items.map((item) => `<li>${escapeHtml(item)}</li>`).join('\n')}\n</ul>`;
    case 'table': {
      const cls = (i: number) => (block.columns[i]?.[1] === 'right' ? ' class="num"' : '');
      const head = block.columns.map(([h], i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('');
      const rows = block.rows.map((cells) => {
        const tds = cells.map((c, i) => {
          const title =
            typeof c === 'string' || c.full === c.text ? '' : ` title="${escapeHtml(c.full)}"`;
          return `<td${cls(i)}${title}>${escapeHtml(cellText(c))}</td>`;
        });
        return `<tr>${tds.join('')}</tr>`;
      });
      return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>`;
    }
  }
}

function cellText(c: Cell): string {
  return typeof c === 'string' ? c : c.text;
}

const STYLE = [
  'body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1f2328}',
  'table{border-collapse:collapse;margin:1em 0}',
  'th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}',
  'th{background:#f6f8fa}',
  '.num{text-align:right;font-variant-numeric:tabular-nums}',
].join('');

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Safe in element content and in double- or single-quoted attribute values; one line. */
function escapeHtml(text: string): string {
  return oneLine(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * Plain text that stays plain in GitHub-flavoured Markdown, also inside a table cell: `|` cannot
 * end the cell, a line break cannot end the row, `<` cannot open raw HTML, and `*_[]~#` and
 * backticks cannot make emphasis, links or code of a command line. CommonMark allows a backslash
 * before any ASCII punctuation (https://spec.commonmark.org/0.31.2/#backslash-escapes); `<`, `>`
 * and `&` become entities instead, which every Markdown dialect decodes and which stay inert in
 * a renderer that passes raw HTML through.
 */
function escapeMarkdown(text: string): string {
  return oneLine(text).replace(/[\\`*_[\]~#|<>&]/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`,
  );
}

const BIDI = new RegExp(`[${BIDI_CONTROLS}]`, 'gu');

/**
 * Control characters (CR, LF, tab, NUL, ESC, C1, …) and Unicode line separators become spaces;
 * bidi controls (`BIDI_CONTROLS`), which reorder what a reader sees, become `?`.
 */
function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, ' ').replace(BIDI, '?');
}

/** Cut by code points, so no surrogate pair is split into garbage. */
function shorten(text: string, max = COMMAND_CHARS): string {
  const chars = Array.from(oneLine(text));
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

function signed(text: string): string {
  return text.startsWith('-') || /^0(\.0*)?[KMGT%]?$/.test(text) ? text : `+${text}`;
}

function integer(n: number): string {
  return n.toLocaleString('en-US');
}

function count(n: number, one: string, many: string): string {
  return `${integer(n)} ${n === 1 ? one : many}`;
}

const HOUR_MS = 3_600_000;

/**
 * ISO 8601 in UTC to the second, without the seconds when they are zero: a report on demand ends
 * at no round time, and its milliseconds would only be noise.
 */
function isoTime(ms: number): string {
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return '-';
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/:00Z$/, 'Z');
}
