#!/usr/bin/env node
// The server is TypeScript run by Node's built-in type stripping (Node >= 26, pinned in the
// root package.json), like the CLI: no build step between an edit and a run.
import '../src/main.ts';
