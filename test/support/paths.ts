import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The `fleetpmap` entry point, run as a real child process by end-to-end tests. */
export const cliBin = join(repoRoot, 'apps/cli/bin/fleetpmap.js');

/** The `fleetpmap-server` entry point. */
export const serverBin = join(repoRoot, 'apps/server/bin/fleetpmap-server.js');

/** The `fleetpmap-agent` entry point. */
export const agentBin = join(repoRoot, 'apps/agent/bin/fleetpmap-agent.js');

/** The pinned Node (root devDependency), which runs the TypeScript CLI directly. */
export const nodeBin = join(repoRoot, 'node_modules/.bin/node');
