// --json: one JSON document with every parsed field of every mapping, the region classes and
// totals. Byte strings become UTF-8 text when they are valid UTF-8; otherwise the text is a lossy
// decoding and the exact bytes are given in base64 beside it.

import { analyse, type JsonProcess } from './extension-data.ts';

export type { JsonProcess } from './extension-data.ts';

const decoder = new TextDecoder('utf-8', { fatal: true });

function textFields(name: string, bytes: string): Record<string, string> {
  const buf = Buffer.from(bytes, 'latin1');
  try {
    return { [name]: decoder.decode(buf) };
  } catch {
    return { [name]: buf.toString('utf8'), [`${name}Base64`]: buf.toString('base64') };
  }
}

function processJson(p: JsonProcess): unknown {
  if ('error' in p) return { pid: p.pid, error: p.error };
  const a = analyse(p);
  const head = { pid: p.pid, tgid: p.proc.tgid, ...textFields('command', p.proc.command) };
  if (typeof a === 'string') return { ...head, error: a };
  const totalsKb: Record<string, number> = {};
  const mappings = a.entries.map((e, i) => {
    for (const [k, v] of Object.entries(e.kb)) totalsKb[k] = (totalsKb[k] ?? 0) + v;
    const c = a.regions.mappings[i];
    return {
      start: e.start,
      end: e.end,
      perms: e.perms,
      offset: e.offset,
      dev: e.dev,
      inode: e.inode,
      ...textFields('path', e.path),
      class: c?.cls ?? null,
      subclass: c?.subclass ?? null,
      kb: e.kb,
      extra: e.extra,
      vmFlags: e.vmFlags,
    };
  });
  return {
    ...head,
    startStack: p.proc.startStack.toString(16),
    mappings,
    totalsKb,
    regions: a.regions.regions,
    threadStacks: a.regions.threadStacks,
    guards: a.regions.guards,
  };
}

/** The whole --json document, newline-terminated, as a byte string (UTF-8 bytes). */
export function renderJson(processes: readonly JsonProcess[]): string {
  const doc = { processes: processes.map(processJson) };
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`, 'utf8').toString('latin1');
}
