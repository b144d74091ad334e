import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { protocolJsonSchemaText } from './json-schema.ts';

describe('docs/protocol-v1.schema.json', () => {
  it('is what the zod schemas generate (regenerate: npm run schema -w @fleetpmap/protocol)', () => {
    const committed = readFileSync(
      new URL('../../../docs/protocol-v1.schema.json', import.meta.url),
      'utf8',
    );
    expect(JSON.parse(committed)).toEqual(JSON.parse(protocolJsonSchemaText()));
  });

  it('describes the snapshot with its limits', () => {
    const schema = JSON.parse(protocolJsonSchemaText());
    expect(schema.properties.schema.const).toBe('fleetpmap.snapshot/v1');
    expect(schema.required).toEqual(
      expect.arrayContaining(['schema', 'snapshotId', 'takenAtMs', 'host', 'agent', 'processes']),
    );
    expect(schema.properties.processes.maxItems).toBe(100_000);
    expect(schema.$defs.PushResult.required).toContain('duplicate');
  });
});
