import { defineConfig } from 'vitest/config';

// biome-ignore lint/style/noDefaultExport: vitest reads its configuration from the default export.
export default defineConfig({
  test: {
    // The false-positive-rate checks run thousands of seeded trend tests; they are CPU-bound and
    // take seconds on a loaded 2-core machine, so wall-clock limits are only a hang guard here.
    testTimeout: 120_000,
  },
});
