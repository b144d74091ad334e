import { hostRouter } from './routers/host.ts';
import { healthProcedure, versionProcedure } from './routers/meta.ts';
import { mapRouter, processRouter } from './routers/query.ts';
import { reportRouter } from './routers/report.ts';
import { snapshotRouter } from './routers/snapshot.ts';
import { tokenRouter } from './routers/token.ts';
import { router } from './trpc.ts';

export const appRouter = router({
  health: healthProcedure,
  version: versionProcedure,
  snapshot: snapshotRouter,
  host: hostRouter,
  token: tokenRouter,
  process: processRouter,
  map: mapRouter,
  report: reportRouter,
});

/** Clients import this with `import type` only, so they never load the database layer. */
export type AppRouter = typeof appRouter;
