import { z } from 'zod';
import { SNAPSHOT_SCHEMA_ID } from './limits.ts';
import { pushResultSchema } from './push-result.ts';
import { snapshotSchema } from './snapshot.ts';

/**
 * The JSON Schema (draft 2020-12) of a version-1 snapshot, with the push answer under `$defs`.
 * `docs/protocol-v1.schema.json` is this document; a test keeps the two equal.
 */
export function protocolJsonSchema(): Record<string, unknown> {
  const snapshot = z.toJSONSchema(snapshotSchema, { target: 'draft-2020-12', io: 'input' });
  const pushResult = z.toJSONSchema(pushResultSchema, { target: 'draft-2020-12', io: 'output' });
  const { $schema, ...snapshotBody } = snapshot;
  const { $schema: _ignored, ...pushResultBody } = pushResult;
  return {
    $schema,
    $id: `https://fleetpmap.dev/schema/${SNAPSHOT_SCHEMA_ID}.json`,
    title: 'fleetpmap snapshot, protocol version 1',
    description:
      'Body of POST /trpc/snapshot.push. Sizes are KiB. takenAtMs may be at most 5 minutes ahead of the server clock.',
    ...snapshotBody,
    $defs: { ...((snapshotBody.$defs as object | undefined) ?? {}), PushResult: pushResultBody },
  };
}

/** The schema file's text: stable key order from the zod definitions, two-space indent. */
export function protocolJsonSchemaText(): string {
  return `${JSON.stringify(protocolJsonSchema(), null, 2)}\n`;
}
