import { sharedTestConfig } from '../../vitest.shared.ts';

// biome-ignore lint/style/noDefaultExport: vitest reads its configuration from the default export.
export default sharedTestConfig;
