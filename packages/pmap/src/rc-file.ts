// pmap's rc file (-c reads ~/.pmaprc, -C FILE reads FILE, -n/-N write the template): which -X
// columns to show and whether to show paths.

/** The template `pmap -n`/`-N FILE` writes, byte for byte as procps-ng 4.0.2 writes it. */
export const RC_TEMPLATE = [
  "# pmap's Config File",
  '',
  '# All the entries are case sensitive.',
  '# Unsupported entries are ignored!',
  '',
  '[Fields Display]',
  '',
  '# To enable a field uncomment its entry',
  '',
  '#Perm',
  '#Offset',
  '#Device',
  '#Inode',
  '#Size',
  '#Rss',
  '#Pss',
  '#Shared_Clean',
  '#Shared_Dirty',
  '#Private_Clean',
  '#Private_Dirty',
  '#Referenced',
  '#Anonymous',
  '#AnonHugePages',
  '#Swap',
  '#KernelPageSize',
  '#MMUPageSize',
  '#Locked',
  '#VmFlags',
  '#Mapping',
  '',
  '',
  '[Mapping]',
  '',
  '# to show paths in the mapping column uncomment the following line',
  '#ShowPath',
  '',
  '',
].join('\n');

export interface RcFile {
  /** Names from `[Fields Display]`, each cut to 31 bytes as pmap stores them. */
  fields: Set<string>;
  /** Each `ShowPath` in `[Mapping]` toggles -p, so an odd count flips it. */
  toggleShowPath: boolean;
  /** Warnings pmap prints (without the `pmap: ` prefix), in order. */
  warnings: string[];
}

// pmap reads the file with fgets into a 1025-byte buffer.
const MAX_LINE = 1024;

type Section = 'none' | 'unsupported' | 'fields' | 'mapping';

// The first two tokens of strtok(text, " \t").
function tokens(text: string): [string | undefined, string | undefined] {
  const parts = text.split(/[ \t]+/).filter((t) => t.length > 0);
  return [parts[0], parts[1]];
}

/** Parses rc text (a byte string) with pmap 4.0.2's rules, warnings included. */
export function parseRcFile(text: string): RcFile {
  const rc: RcFile = { fields: new Set(), toggleShowPath: false, warnings: [] };
  const syntaxError = (n: number): void => {
    rc.warnings.push(`syntax error found in the config - line ${n}`);
  };
  let section: Section = 'none';
  let lineNo = 0;
  let s = 0;
  while (s < text.length) {
    const nl = text.indexOf('\n', s);
    const lineEnd = nl < 0 ? text.length : nl;
    lineNo++;
    let line = text.slice(s, lineEnd);
    if (line.length >= MAX_LINE) {
      rc.warnings.push(`config line too long - line ${lineNo}`);
      line = line.slice(0, MAX_LINE);
    }
    s = nl < 0 ? text.length : nl + 1;
    const nul = line.indexOf('\0');
    if (nul >= 0) line = line.slice(0, nul);

    let t = line.replace(/^[ \t]+/, '');
    if (t.startsWith('#') || t === '') continue;

    if (t.startsWith('[')) {
      if (t.startsWith('[Fields Display]')) {
        t = t.slice('[Fields Display]'.length);
        section = 'fields';
      } else if (t.startsWith('[Mapping]')) {
        t = t.slice('[Mapping]'.length);
        section = 'mapping';
      } else {
        const close = t.indexOf(']');
        if (close >= 0) {
          section = 'unsupported';
          rc.warnings.push(`unsupported section found in the config - line ${lineNo}`);
          t = t.slice(close + 1);
        } else {
          syntaxError(lineNo);
          t = '';
        }
      }
      t = t.replace(/^[ \t]+/, '');
      if (t.startsWith('#') || t === '') continue;
      // Text after a section name is reported, then still read as an entry of that section.
      syntaxError(lineNo);
    }

    if (section === 'fields' || section === 'mapping') {
      const [token, tail] = tokens(t);
      if (token === undefined) continue;
      if (tail !== undefined && !tail.startsWith('#')) syntaxError(lineNo);
      if (section === 'fields') rc.fields.add(token.slice(0, 31));
      else if (token === 'ShowPath') rc.toggleShowPath = !rc.toggleShowPath;
    } else if (section === 'none') {
      syntaxError(lineNo);
    }
  }
  return rc;
}
