import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';

const pid = Number(process.argv[2]);
for (const size of [65536, 1 << 20]) {
  const fh = await open(`/proc/${pid}/smaps`, 'r');
  const buf = Buffer.allocUnsafe(size);
  let total = 0,
    syncPart = 0,
    all = 0;
  for (;;) {
    const t0 = performance.now();
    const p = fh.read(buf, 0, buf.length, null);
    const t1 = performance.now();
    const { bytesRead } = await p;
    const t2 = performance.now();
    syncPart += t1 - t0;
    all += t2 - t0;
    if (bytesRead === 0) break;
    total += bytesRead;
  }
  await fh.close();
  const t0 = performance.now();
  const fd = openSync(`/proc/${pid}/smaps`, 'r');
  while (readSync(fd, buf, 0, buf.length, null) > 0);
  closeSync(fd);
  console.log(size, {
    total,
    syncPartMs: syncPart.toFixed(2),
    allMs: all.toFixed(2),
    readSyncMs: (performance.now() - t0).toFixed(2),
  });
}
