/**
 * A format error on which pmap stops (exit status 1): the smaps text is not what the -X layout
 * expects. `message` is pmap's text without the `pmap: ` prefix and the final newline.
 */
export class PmapFormatError extends Error {
  readonly exitCode = 1;
  constructor(message: string) {
    super(message);
    this.name = 'PmapFormatError';
  }
}
