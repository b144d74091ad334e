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
  {
    name: 'top',
    summary:
      'rank processes across hosts by memory growth over a window (--group-by for the pivot)',
    load: async () => (await import('../fleet/top.ts')).topCommand,
  },
  {
    name: 'ps',
    summary: 'the latest state of processes across hosts, largest first',
    load: async () => (await import('../fleet/ps.ts')).psCommand,
  },
  {
    name: 'history',
    summary: "one process's memory over a window as a chart with its fitted trend",
    load: async () => (await import('../fleet/history.ts')).historyCommand,
  },
  {
    name: 'diff',
    summary: 'what appeared, disappeared and grew between two stored maps of a process',
    load: async () => (await import('../fleet/diff.ts')).diffCommand,
  },
  {
    name: 'report',
    summary: 'the fleet leak reports the server makes on its schedule: list, show, run',
    load: async () => (await import('../fleet/report.ts')).reportCommand,
  },
  {
    name: 'import',
    summary: 'push NDJSON protocol-v1 snapshots (a file or stdin) through the server (admin)',
    load: async () => (await import('../fleet/import.ts')).importCommand,
  },
];

/** Whether the first argument names a subcommand (anything else is pmap mode). */
export function isSubcommand(name: string | undefined): boolean {
  return name === 'help' || COMMANDS.some((c) => c.name === name);
}
