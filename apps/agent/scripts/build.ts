// Bundles the agent into one ES module, dist/fleetpmap-agent.mjs (see bundle.ts).
import { bundleAgent } from './bundle.ts';

const outfile = new URL('../dist/fleetpmap-agent.mjs', import.meta.url).pathname;
await bundleAgent(outfile);
