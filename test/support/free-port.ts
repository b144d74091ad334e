import { createServer } from 'node:net';

/**
 * A loopback TCP port nothing listens on right now, for a test server started next (another
 * process could take it in between; on a test machine nothing does).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
