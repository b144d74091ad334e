import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The `fleetpmap` entry point, run as a real child process by end-to-end tests. */
export const cliBin = fileURLToPath(new URL('../../apps/cli/bin/fleetpmap.js', import.meta.url));
