#!/usr/bin/env node
// The agent is written in TypeScript and run by Node's built-in type stripping (Node >= 26,
// pinned in the root package.json), so there is no build step between an edit and a run.
import { runAsProcess } from '../src/main.ts';

runAsProcess();
