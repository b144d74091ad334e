// Bundles the agent into one ES module, dist/fleetpmap-agent.mjs, for hosts that should not pay
// for TypeScript stripping at run time (it costs resident memory: see docs/agent.md).
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../bin/fleetpmap-agent.js', import.meta.url).pathname],
  outfile: new URL('../dist/fleetpmap-agent.mjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node26',
  minify: true,
  legalComments: 'none',
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
