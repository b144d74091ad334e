import { hostGlobProblem } from '@fleetpmap/protocol/host-glob';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { type ConnectionFlags, DEFAULT_TIMEOUT_SECONDS, resolveConnection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { printable } from './format.ts';

/** The flags every fleet command shares. */
export function withConnectionOptions(command: Command): Command {
  // Commands with a table also take --csv: one output can be only one of the two.
  return command
    .option('--server <url>', 'server URL (env FLEETPMAP_SERVER; default http://127.0.0.1:4680)')
    .option('--token <token>', 'bearer token (env FLEETPMAP_TOKEN)')
    .option('--token-file <path>', 'read the token from a file (env FLEETPMAP_TOKEN_FILE)')
    .option(
      '--config <path>',
      'config file (env FLEETPMAP_CONFIG; default $XDG_CONFIG_HOME/fleetpmap/config.json, ~/.config/fleetpmap/config.json when unset)',
    )
    .option(
      '--timeout <seconds>',
      `give up on a request after this long (env FLEETPMAP_TIMEOUT; default ${DEFAULT_TIMEOUT_SECONDS})`,
    )
    .addOption(new Option('--json', 'print the result as one JSON document').conflicts('csv'));
}

/** `--host GLOB` and `--label k=v` (repeatable): which hosts a fleet question is about. */
export function withHostOptions(command: Command): Command {
  return command
    .option(
      '--host <glob>',
      'only hosts whose name matches this shell glob: * ? [0-9] [!a] {web,db}',
      parseHostGlob,
    )
    .option(
      '--label <k=v>',
      'only hosts with this label (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    );
}

/**
 * `--host`, refused before anything is asked when malformed: an unclosed `[` or `{` would
 * otherwise match no host and look like an empty fleet.
 */
export function parseHostGlob(glob: string): string {
  const problem = hostGlobProblem(glob);
  if (problem !== null) throw new InvalidArgumentError(`not a host glob: ${printable(problem)}`);
  return glob;
}

const connectionOptionsSchema = z.object({
  server: z.string().optional(),
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  config: z.string().optional(),
  timeout: z.string().optional(),
  json: z.boolean().optional(),
});

export function parseConnectionOptions(raw: unknown) {
  const parsed = connectionOptionsSchema.safeParse(raw);
  if (!parsed.success) throw new FleetCommandError('invalid options');
  const flags: ConnectionFlags = parsed.data;
  return { connection: resolveConnection(flags), json: parsed.data.json === true };
}

/** Writes either exactly the data as JSON, or the human rendering. */
export function output(json: boolean, data: unknown, render: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : render());
}
