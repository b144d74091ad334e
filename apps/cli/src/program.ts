import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands/registry.ts';
import { ExitError } from './errors.ts';
import { FleetCommandError } from './fleet/errors.ts';

/**
 * The commander program for subcommands. Only the command being run is imported; the others
 * appear in the help as names and summaries.
 */
export async function runProgram(argv: readonly string[]): Promise<number> {
  const program = new Command('fleetpmap')
    .description(
      'pmap for a whole fleet of Linux hosts.\n\n' +
        'fleetpmap [options] PID...   prints memory maps exactly like procps pmap 4.0.2\n' +
        '                             (see fleetpmap -h), plus --json, --sort FIELD, --summary',
    )
    .exitOverride()
    .showHelpAfterError();
  // `help NAME` shows NAME's full help, so NAME's module is loaded as if it were run.
  const wanted = argv[0] === 'help' ? argv[1] : argv[0];
  for (const entry of COMMANDS) {
    if (entry.name === wanted) program.addCommand((await entry.load()).exitOverride());
    else program.command(entry.name).description(entry.summary);
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof ExitError) return e.exitCode;
    if (e instanceof FleetCommandError) {
      process.stderr.write(`fleetpmap: ${e.message}\n`);
      return e.exitCode;
    }
    throw e;
  }
}
