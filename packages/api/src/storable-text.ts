import { ApiError, formatFieldPath } from './errors.ts';

/**
 * JSON text that may decode to U+0000 or to a surrogate: only the escapes `\u0000` and
 * `\uD800`–`\uDFFF` can (raw control characters are invalid JSON, and raw bytes that are not
 * UTF-8 decode to U+FFFD). A body without them needs no walk of its strings.
 */
const RISKY_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

export function mayHoldUnstorableText(jsonText: string): boolean {
  return RISKY_ESCAPE.test(jsonText);
}

const MESSAGE = 'contains U+0000 or an unpaired surrogate, which cannot be stored';

/**
 * Postgres text and jsonb cannot hold U+0000, and jsonb refuses unpaired UTF-16 surrogates; JSON
 * carries both. Such a value would fail deep in an insert as a 500, so it is refused up front as
 * a 400 naming the field. Keys are checked as well as values (labels and kB maps are open maps).
 */
export function assertStorableText(value: unknown): void {
  const path: (string | number)[] = [];
  const bad = (s: string) => s.includes('\u0000') || !s.isWellFormed();
  const refuse = (): never => {
    const field = formatFieldPath(path);
    throw new ApiError('INVALID_INPUT', `invalid input at ${field}: ${MESSAGE}`, { field });
  };
  const walk = (node: unknown): void => {
    if (typeof node === 'string') {
      if (bad(node)) refuse();
      return;
    }
    if (node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        path.push(i);
        walk(node[i]);
        path.pop();
      }
      return;
    }
    for (const key in node) {
      path.push(key);
      if (bad(key)) refuse();
      walk((node as Record<string, unknown>)[key]);
      path.pop();
    }
  };
  walk(value);
}
