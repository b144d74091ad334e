import type { z } from 'zod';

/**
 * Postgres text and jsonb cannot hold U+0000, and jsonb refuses unpaired UTF-16 surrogates; JSON
 * carries both. Such a value would fail deep in an insert as a 500, so it is refused up front as
 * a 400 naming the field. Keys are checked as well as values (labels and kB maps are open maps).
 */
export function refuseUnstorableText(value: unknown, ctx: z.RefinementCtx): void {
  const path: (string | number)[] = [];
  const bad = (s: string) => s.includes('\u0000') || !s.isWellFormed();
  const refuse = () => {
    ctx.addIssue({
      code: 'custom',
      path: [...path],
      message: 'contains U+0000 or an unpaired surrogate, which cannot be stored',
    });
    return false;
  };
  const walk = (node: unknown): boolean => {
    if (typeof node === 'string') return bad(node) ? refuse() : true;
    if (node === null || typeof node !== 'object') return true;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        path.push(i);
        const ok = walk(node[i]);
        path.pop();
        if (!ok) return false;
      }
      return true;
    }
    for (const key in node) {
      path.push(key);
      const ok = bad(key) ? refuse() : walk((node as Record<string, unknown>)[key]);
      path.pop();
      if (!ok) return false;
    }
    return true;
  };
  walk(value);
}
