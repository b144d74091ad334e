import { z } from 'zod';

/** The answer to a successful `snapshot.push`; sent only after the data is committed. */
export const pushResultSchema = z.strictObject({
  snapshotId: z.guid(),
  accepted: z.literal(true),
  /** true when this snapshotId was already stored: nothing was stored again */
  duplicate: z.boolean(),
  /** process records stored by this push (0 for a duplicate) */
  processCount: z.int().min(0),
  /** mappings received in full maps by this push (0 for a duplicate) */
  mappingCount: z.int().min(0),
  /** the server's clock when it answered, ms since the Unix epoch */
  serverTimeMs: z.int().min(0),
});

export type PushResult = z.infer<typeof pushResultSchema>;
