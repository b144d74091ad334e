import { sharedTestConfig } from '../../vitest.shared.ts';

// The false-positive-rate checks run thousands of seeded trend tests: CPU-bound, seconds each on
// a loaded machine, which the shared hang-guard limits allow for.
// biome-ignore lint/style/noDefaultExport: vitest reads its configuration from the default export.
export default sharedTestConfig;
