import { SNAPSHOT_SCHEMA_ID } from '@fleetpmap/protocol';
import { z } from 'zod';
import { publicProcedure } from '../trpc.ts';

/** Public: load balancers and agents may call these without a token. */
export const healthProcedure = publicProcedure
  .output(z.strictObject({ ok: z.literal(true) }))
  .query(() => ({ ok: true as const }));

export const versionProcedure = publicProcedure
  .output(
    z.strictObject({ name: z.literal('fleetpmap'), version: z.string(), protocol: z.string() }),
  )
  .query(({ ctx }) => ({
    name: 'fleetpmap' as const,
    version: ctx.version,
    protocol: SNAPSHOT_SCHEMA_ID,
  }));
