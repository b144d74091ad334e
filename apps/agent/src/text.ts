/**
 * Bytes from /proc become protocol strings: UTF-8 when they are valid UTF-8, otherwise a
 * replacement-character rendering for display plus the exact bytes in base64, so nothing the
 * kernel printed is lost on the wire.
 */
export function wireText(bytes: Buffer, maxChars: number): { text: string; base64?: string } {
  const text = bytes.toString('utf8');
  const exact = Buffer.from(text, 'utf8').equals(bytes);
  const cut = text.length > maxChars ? text.slice(0, maxChars) : text;
  if (exact) return { text: cut };
  // The base64 form is bounded by the same raw byte budget as the text.
  return { text: cut, base64: bytes.subarray(0, maxChars).toString('base64') };
}

/** The same for the latin1 byte strings the procfs parsers produce. */
export function wireTextLatin1(
  latin1: string,
  maxChars: number,
): { text: string; base64?: string } {
  return wireText(Buffer.from(latin1, 'latin1'), maxChars);
}
