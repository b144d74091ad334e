/**
 * The lines of a /proc text file as fgets returns them, without their newline. A final line
 * without a newline is still a line; an empty file has none. Lines are read whole, however long
 * (pmap 4.0.2 cuts them into 1023-byte pieces; see docs/pmap-compat.md).
 */
export function splitLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}
