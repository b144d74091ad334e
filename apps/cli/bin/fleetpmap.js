#!/usr/bin/env node
// The CLI is written in TypeScript and run by Node's built-in type stripping (Node >= 26,
// pinned in the root package.json), so there is no build step between an edit and a run.
// The compile cache keeps the stripped and compiled modules between runs, which halves the CPU
// time of a short command (https://nodejs.org/api/module.html#module-compile-cache).
import module from 'node:module';

module.enableCompileCache?.();
await import('../src/main.ts');
