/**
 * An expected end of the program with a given exit status; whatever had to be said was already
 * written. Only the entry point (main.ts) turns it into process.exit.
 */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = `exit ${exitCode}`) {
    super(message);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}
