import { pushResultSchema, snapshotInputAt } from '@fleetpmap/protocol';
import { assertStorableText } from '../storable-text.ts';
import { agentProcedure, assertMayWriteHost, router } from '../trpc.ts';

export const snapshotRouter = router({
  /**
   * The agent contract (protocol v1): idempotent on `snapshotId`; answers only after the
   * snapshot is committed. The future-time check uses the server's clock at parse time.
   */
  push: agentProcedure
    .input(snapshotInputAt())
    .output(pushResultSchema)
    .mutation(async ({ ctx, input }) => {
      if (ctx.textCheckNeeded) assertStorableText(input);
      assertMayWriteHost(ctx.identity, input.host.name);
      const outcome = await ctx.services.ingestSnapshot(input);
      ctx.hooks.onIngest?.({
        hostName: input.host.name,
        duplicate: outcome.duplicate,
        processCount: outcome.processCount,
        mappingCount: outcome.mappingCount,
        ...(outcome.mappingsStored === undefined ? {} : { mappingsStored: outcome.mappingsStored }),
      });
      return {
        snapshotId: input.snapshotId,
        accepted: true as const,
        duplicate: outcome.duplicate,
        processCount: outcome.duplicate ? 0 : outcome.processCount,
        mappingCount: outcome.duplicate ? 0 : outcome.mappingCount,
        serverTimeMs: ctx.nowMs(),
      };
    }),
});
