// The agent as one ES module, for hosts that should not pay for TypeScript stripping at run time
// (it costs resident memory: see docs/agent.md). build.ts writes it to dist/; the tests build it
// too, to check what it leaves out and that it runs.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { build, type Plugin } from 'esbuild';
import { PRODUCTION_FLAGS } from './production-flags.ts';

/**
 * The workspace packages the agent imports declare their module-level values without side
 * effects, but their package.json files do not say so. Without the hint esbuild keeps every module
 * an index re-exports, among them the protocol's zod schemas that the agent never calls (it only
 * needs the limits), and zod with them: about a sixth of the agent's resident memory.
 */
const pureWorkspacePackages: Plugin = {
  name: 'pure-workspace-packages',
  setup(b) {
    const pkgDir = /\/packages\/(protocol|procfs)\/src\//;
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'inner') return undefined;
      const fromPkg = pkgDir.test(args.importer) && args.path.startsWith('.');
      if (!fromPkg && !/^@fleetpmap\/(protocol|procfs)$/.test(args.path)) return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'inner',
      });
      if (r.errors.length > 0) return { errors: r.errors };
      return { path: r.path, sideEffects: false };
    });
  },
};

/**
 * Node built-ins through process.getBuiltinModule instead of ESM imports. An ESM import of a
 * built-in evaluates every export of its namespace, lazy getters included, and some of those load
 * whole subsystems: `import … from 'node:util'` alone costs 3 MB resident. As CommonJS, the bundle
 * reads only the properties it uses. child_process, which commander imports for subcommands the
 * agent does not have, is loaded on first use only (4 MB).
 */
const lazyBuiltins: Plugin = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const id = JSON.stringify(args.path);
      if (args.path === 'node:child_process') {
        return {
          contents: `module.exports = new Proxy({}, { get: (_, k) => process.getBuiltinModule(${id})[k] });`,
          loader: 'js',
        };
      }
      return { contents: `module.exports = process.getBuiltinModule(${id});`, loader: 'js' };
    });
  },
};

/**
 * Writes the bundle to `outfile`, executable, its #! line carrying the production V8 flags, and
 * returns the source files with code in it (esbuild reads more than it keeps: tree shaking drops
 * the rest).
 */
export async function bundleAgent(outfile: string): Promise<string[]> {
  const result = await build({
    entryPoints: [new URL('../bin/fleetpmap-agent.js', import.meta.url).pathname],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node26',
    minify: true,
    legalComments: 'none',
    plugins: [pureWorkspacePackages, lazyBuiltins],
    // Some dependencies are CommonJS and call require() for Node built-ins.
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
    logLevel: 'warning',
    metafile: true,
  });

  const text = readFileSync(outfile, 'utf8').replace(/^#!.*\n/, '');
  writeFileSync(outfile, `#!/usr/bin/env -S node ${PRODUCTION_FLAGS.join(' ')}\n${text}`);
  chmodSync(outfile, 0o755);
  const [output] = Object.values(result.metafile.outputs);
  return Object.entries(output?.inputs ?? {})
    .filter(([, input]) => input.bytesInOutput > 0)
    .map(([path]) => path);
}
