import type { Command } from 'commander';

/**
 * The subcommands. Only names and one-line summaries live here, so `fleetpmap help` lists them
 * without loading any command's code; `load` imports the one command being run. Each command
 * file exports a function returning its commander `Command`.
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load: () => Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'hosts',
    summary: 'list the hosts that push snapshots: labels, agent version, last seen, processes',
    load: async () => (await import('../fleet/hosts.ts')).hostsCommand,
  },
  {
    name: 'token',
    summary: 'create, list and revoke API tokens (admin)',
    load: async () => (await import('../fleet/token.ts')).tokenCommand,
  },
];

/** Whether the first argument names a subcommand (anything else is pmap mode). */
export function isSubcommand(name: string | undefined): boolean {
  return name === 'help' || COMMANDS.some((c) => c.name === name);
}
