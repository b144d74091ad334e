/**
 * Code-unit order of two strings: the same on every machine, whatever its locale, and the order
 * Postgres gives with `collate "C"`, so rankings read from storage and scored live list ties alike.
 */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
