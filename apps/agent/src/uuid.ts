import { closeSync, openSync, readSync } from 'node:fs';

const POOL_IDS = 64;
let pool = Buffer.alloc(0);
let used = 0;

function fill(): void {
  const fd = openSync('/dev/urandom', 'r');
  try {
    pool = Buffer.alloc(16 * POOL_IDS);
    let got = 0;
    while (got < pool.length) got += readSync(fd, pool, got, pool.length - got, null);
  } finally {
    closeSync(fd);
  }
  used = 0;
}

/**
 * A random (version 4) UUID from the kernel's random source. node:crypto would do the same, but
 * loading it (OpenSSL) costs the agent about 5 MB of resident memory for this one use.
 */
export function randomUuid(): string {
  if (used + 16 > pool.length) fill();
  const b = pool.subarray(used, used + 16);
  used += 16;
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
