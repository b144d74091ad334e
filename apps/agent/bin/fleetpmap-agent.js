#!/usr/bin/env node
// The agent is written in TypeScript and run by Node's built-in type stripping (Node >= 26,
// pinned in the root package.json), so there is no build step between an edit and a run.
import { main } from '../src/main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`fleetpmap-agent: internal error: ${err?.stack ?? err}\n`);
    process.exit(70);
  },
);
