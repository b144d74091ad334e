/** An expected failure of a fleet command: the entry point prints the message and exits. */
export class FleetCommandError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'FleetCommandError';
    this.exitCode = exitCode;
  }
}
