// The fleetpmap entry point and the only place that calls process.exit. The first argument picks
// the mode: a subcommand name goes to the commander program; otherwise it is pmap mode, on remote
// hosts when an argument names a HOST:PID target, else on this host.

import { isSubcommand } from './commands/registry.ts';
import { isRemoteTargetArg } from './remote/target.ts';

async function main(argv: readonly string[]): Promise<number> {
  if (isSubcommand(argv[0])) {
    const { runProgram } = await import('./program.ts');
    return runProgram(argv);
  }
  // `--at TIME` reads the stored map from the server instead of the host.
  if (argv.some(isRemoteTargetArg) && argv.some((a) => a === '--at' || a.startsWith('--at='))) {
    const { runAt } = await import('./fleet/at.ts');
    return runAt(argv, process.env);
  }
  if (argv.some(isRemoteTargetArg)) {
    const { runRemoteCli } = await import('./remote/remote-cli.ts');
    return runRemoteCli(argv, process.env);
  }
  const { runPmap } = await import('./pmap-mode/run.ts');
  return runPmap(argv, process.env);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`fleetpmap: internal error: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 70;
}
process.exit();
