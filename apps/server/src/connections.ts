import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export type ConnectionLimits = {
  /** connections the server holds at once (Node's `server.maxConnections`) */
  max: number;
  /** connections one remote address holds at once; 0: no such cap */
  perAddress: number;
};

export type ConnectionCaps = {
  /** connections held open now, by remote address (for tests and the log) */
  openByAddress(): ReadonlyMap<string, number>;
};

/**
 * Caps the connections of `server`: past `max` in all, or past `perAddress` from one remote
 * address, a new connection is closed as soon as it is accepted, before a byte of it is read.
 * Clients see the connection reset and retry as after any network failure. `onRefused` is told
 * which cap refused it.
 */
export function capConnections(
  server: Server,
  limits: ConnectionLimits,
  onRefused: (cap: 'max_connections' | 'per_address') => void,
): ConnectionCaps {
  server.maxConnections = limits.max;
  server.on('drop', () => onRefused('max_connections'));
  const open = new Map<string, number>();
  if (limits.perAddress > 0) {
    server.on('connection', (socket: Socket) => {
      const address = addressOf(socket);
      const held = open.get(address) ?? 0;
      if (held >= limits.perAddress) {
        onRefused('per_address');
        socket.destroy();
        return;
      }
      open.set(address, held + 1);
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left > 0) open.set(address, left);
        else open.delete(address);
      });
    });
  }
  return { openByAddress: () => open };
}

/** The remote address, an IPv4-mapped IPv6 one (`::ffff:10.0.0.1`) as plain IPv4. */
function addressOf(socket: Socket): string {
  const address = socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
