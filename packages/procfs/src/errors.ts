// Expected failures of the procfs layer. Each carries a stable `code` and a `retryable` flag so the
// agent can decide what to do without parsing messages.

/** A /proc file (or a fixture standing in for one) does not have the shape the kernel prints. */
export class ProcfsParseError extends Error {
  override readonly name = 'ProcfsParseError';
  readonly code = 'EPARSE';
  /** Malformed text stays malformed when read again. */
  readonly retryable = false;
  /** Path (or label) of the file being parsed. */
  readonly file: string;
  /** 1-based line number of the offending line; 0 when the problem is not tied to one line. */
  readonly line: number;

  constructor(file: string, line: number, detail: string) {
    super(line > 0 ? `${file} line ${line}: ${detail}` : `${file}: ${detail}`);
    this.file = file;
    this.line = line;
  }
}

/** A /proc file is larger than the caller's limit; reading stopped there. */
export class ProcfsLimitError extends Error {
  override readonly name = 'ProcfsLimitError';
  readonly code = 'ETOOBIG';
  /** The file will not shrink by itself; the caller must raise the limit or skip it. */
  readonly retryable = false;
  readonly file: string;
  readonly limitBytes: number;

  constructor(file: string, limitBytes: number) {
    super(`${file}: larger than the limit of ${limitBytes} bytes`);
    this.file = file;
    this.limitBytes = limitBytes;
  }
}

/** Quotes a slice of offending input for an error message, bounded and without control bytes. */
export function quoteInput(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are exactly what we hide
  return JSON.stringify(cut.replace(/[\x00-\x1f\x7f-\xff]/g, '?'));
}
