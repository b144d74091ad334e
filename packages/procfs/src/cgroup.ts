import { ProcfsParseError, quoteInput } from './errors.ts';
import { readProcText } from './read.ts';

export interface CgroupLine {
  hierarchyId: number;
  /** Comma-separated controller names as printed; empty for the unified hierarchy. */
  controllers: string;
  path: string;
}

export interface ProcCgroup {
  /** Path in the unified (v2) hierarchy, from the `0::/…` line; null when there is none. */
  unified: string | null;
  lines: CgroupLine[];
}

/** Parses /proc/PID/cgroup (`hierarchy-ID:controller-list:cgroup-path` per line, see cgroups(7)). */
export function parseCgroup(text: string, file: string): ProcCgroup {
  const lines: CgroupLine[] = [];
  let unified: string | null = null;
  let s = 0;
  let n = 0;
  while (s < text.length) {
    let e = text.indexOf('\n', s);
    if (e < 0) e = text.length;
    n++;
    const c1 = text.indexOf(':', s);
    const c2 = c1 < 0 ? -1 : text.indexOf(':', c1 + 1);
    const id = c1 < 0 ? '' : text.slice(s, c1);
    if (c2 < 0 || c2 >= e || !/^\d{1,10}$/.test(id)) {
      throw new ProcfsParseError(file, n, `malformed cgroup line ${quoteInput(text.slice(s, e))}`);
    }
    const line: CgroupLine = {
      hierarchyId: Number(id),
      controllers: text.slice(c1 + 1, c2),
      path: text.slice(c2 + 1, e),
    };
    if (line.hierarchyId === 0 && line.controllers === '') unified = line.path;
    lines.push(line);
    s = e + 1;
  }
  return { unified, lines };
}

export async function readCgroup(pid: number | string, procRoot = '/proc'): Promise<ProcCgroup> {
  const path = `${procRoot}/${pid}/cgroup`;
  return parseCgroup(await readProcText(path, { maxBytes: 1024 * 1024 }), path);
}
