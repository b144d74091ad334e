import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { protocolJsonSchemaText } from '../src/json-schema.ts';

const target = fileURLToPath(new URL('../../../docs/protocol-v1.schema.json', import.meta.url));
writeFileSync(target, protocolJsonSchemaText());
process.stderr.write(`wrote ${target}\n`);
