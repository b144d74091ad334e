import { customType } from 'drizzle-orm/pg-core';

/** bytea as Uint8Array; postgres.js hands back a Buffer, which is one. */
export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => 'bytea',
  toDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)),
});
