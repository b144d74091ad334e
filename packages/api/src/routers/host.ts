import { z } from 'zod';
import { readerProcedure, router } from '../trpc.ts';

export const hostSummarySchema = z.strictObject({
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  agentVersion: z.string().nullable(),
  kernel: z.string().nullable(),
  lastSeenMs: z.int().nullable(),
  /** processes in the host's latest snapshot */
  processCount: z.int().min(0),
});

export type HostSummaryOutput = z.infer<typeof hostSummarySchema>;

export const hostRouter = router({
  list: readerProcedure
    .output(z.array(hostSummarySchema))
    .query(({ ctx }) => ctx.services.listHosts()),
});
