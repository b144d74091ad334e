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

/**
 * Resolves once `stream` has handed everything written to it to the kernel. Writes to a pipe are
 * asynchronous: a pipe takes 64 KiB at a time, and what is still queued when the process exits is
 * lost. A stream that failed (the reader went away) has nothing left to wait for.
 */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

// A reader that goes away early (`fleetpmap top --json | head`) is not an error of ours; any other
// failure to write the results is.
let writeFailed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') return;
  process.stderr.write(`fleetpmap: write error: ${e.message}\n`);
  writeFailed = true;
});
process.stderr.on('error', () => {
  // Nowhere left to report a failing stderr.
});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`fleetpmap: internal error: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 70;
}
// The exit is explicit because an SSH session or a keep-alive socket may still hold the event
// loop; it waits until stdout and stderr have taken all of the output first.
await Promise.all([drained(process.stdout), drained(process.stderr)]);
if (writeFailed && process.exitCode === 0) process.exitCode = 1;
process.exit();
