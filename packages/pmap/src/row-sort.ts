// --sort: the rows of a pmap table, ordered by one of its columns. pmap itself prints rows in
// file order; this extension reorders only the rows, never the header or the totals.

export type SortKey = bigint | string;

export interface SortableRow {
  text: string;
  /** Column values by lower-case column name. */
  keys: ReadonlyMap<string, SortKey>;
}

export class SortFieldError extends Error {
  readonly field: string;
  readonly available: readonly string[];
  constructor(field: string, available: readonly string[]) {
    super(`unknown sort field '${field}' (available: ${available.join(', ')})`);
    this.name = 'SortFieldError';
    this.field = field;
    this.available = available;
  }
}

/**
 * Stable sort by `field` (case-insensitive): numbers largest first, except the address, which
 * keeps ascending order; text in ascending byte order.
 */
export function sortRows(rows: SortableRow[], field: string, available: readonly string[]): void {
  const key = field.toLowerCase();
  if (!available.includes(key)) throw new SortFieldError(field, available);
  const ascending = key === 'address';
  rows.sort((a, b) => {
    const x = a.keys.get(key) ?? '';
    const y = b.keys.get(key) ?? '';
    if (typeof x === 'bigint' && typeof y === 'bigint') {
      if (x === y) return 0;
      return x < y === ascending ? -1 : 1;
    }
    const sx = String(x);
    const sy = String(y);
    if (sx === sy) return 0;
    return sx < sy ? -1 : 1;
  });
}
