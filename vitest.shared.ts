import { defineConfig } from 'vitest/config';

// Shared by every package's vitest.config.ts. CI runs the packages' suites side by side on a
// 2-core machine, so a test's wall time says little about the code: the limits below only catch
// hangs. Speed is measured by the benchmarks (`npm run bench:…`), never by test timeouts.
export const sharedTestConfig = defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
