import { defineConfig } from 'vitest/config';
import { isClosedSocketWriteFault } from '../packages/db/src/driver-faults.ts';

// biome-ignore lint/style/noDefaultExport: vitest reads its configuration from the default export.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/golden/**', '**/fixtures/**'],
    // Conformance cases start real processes and run pmap and fleetpmap hundreds of times.
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Test files start processes of their own; on small CI machines two at a time is plenty.
    maxWorkers: 2,
    fileParallelism: true,
    // The outage tests cut the database under an in-process server; the driver's known fault on
    // that path is handled by the server's entry point, which these tests do not run through.
    onUnhandledError: (error) => !isClosedSocketWriteFault(error),
  },
});
