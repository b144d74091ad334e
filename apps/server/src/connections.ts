import { isIPv6, type Server, type Socket, SocketAddress } from 'node:net';

export type ConnectionLimits = {
  /** connections the server holds at once (Node's `server.maxConnections`) */
  max: number;
  /** connections one remote address (IPv6: one /64, see `capKey`) holds at once; 0: no such cap */
  perAddress: number;
};

export type ConnectionCaps = {
  /** connections held open now, by `capKey` of their remote address (for tests and the log) */
  openByAddress(): ReadonlyMap<string, number>;
};

/**
 * Caps the connections of `server`: past `max` in all, or past `perAddress` from one remote
 * address (for IPv6, from one /64: `capKey`), a new connection is closed as soon as it is
 * accepted, before a byte of it is read. Clients see the connection reset and retry as after any
 * network failure. `onRefused` is told which cap refused it.
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
      const key = capKey(socket.remoteAddress ?? '');
      const held = open.get(key) ?? 0;
      if (held >= limits.perAddress) {
        onRefused('per_address');
        socket.destroy();
        return;
      }
      open.set(key, held + 1);
      socket.once('close', () => {
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
      });
    });
  }
  return { openByAddress: () => open };
}

/**
 * What the per-address cap counts a remote address as. An IPv4 address is counted whole. An IPv6
 * address is counted by its /64 prefix (`2001:db8:0:7::/64`): a host, or a customer's network, is
 * usually handed a whole /64 and may send from any of its 2^64 addresses (SLAAC, privacy
 * addresses), so a cap per /128 would only cap a client that never changes its address. An
 * IPv4-mapped address (`::ffff:10.0.0.1`, how a dual-stack socket reports an IPv4 client) counts
 * as its IPv4 address. A scoped address (`fe80::1%eth0`) keeps its zone after the prefix: each
 * link has an fe80::/64 of its own. Anything else (no address at all) is counted as it is.
 */
export function capKey(address: string): string {
  if (!isIPv6(address)) return address;
  const zoneAt = address.indexOf('%');
  const zone = zoneAt < 0 ? '' : address.slice(zoneAt);
  const words = ipv6Words(zoneAt < 0 ? address : address.slice(0, zoneAt));
  // Never let an address Node's parser refuses throw in the 'connection' handler.
  if (words === undefined) return address;
  const [w0, w1, w2, w3, w4, w5, w6, w7] = words;
  if (w0 === 0 && w1 === 0 && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0xffff) {
    return `${w6 >> 8}.${w6 & 0xff}.${w7 >> 8}.${w7 & 0xff}`;
  }
  const prefix = `${[w0, w1, w2, w3].map((word) => word.toString(16)).join(':')}::`;
  return `${canonicalIPv6(prefix) ?? prefix}/64${zone}`;
}

type Words = [number, number, number, number, number, number, number, number];

/** The eight 16-bit words of an IPv6 address (without a zone); undefined if it is not one. */
function ipv6Words(address: string): Words | undefined {
  // Node's parser (inet_pton, then inet_ntop) validates the address and writes it canonically:
  // lower case, at most one `::`, a dotted IPv4 tail only as the last two words.
  const canonical = canonicalIPv6(address);
  if (canonical === undefined) return undefined;
  const [head = '', tail] = canonical.split('::');
  const headWords = groupWords(head);
  if (tail === undefined) return headWords as Words;
  const tailWords = groupWords(tail);
  const zeros = new Array<number>(8 - headWords.length - tailWords.length).fill(0);
  return [...headWords, ...zeros, ...tailWords] as Words;
}

/** The words of colon-separated groups, a dotted IPv4 group giving two. */
function groupWords(groups: string): number[] {
  if (groups === '') return [];
  return groups.split(':').flatMap((group) => {
    if (!group.includes('.')) return [Number.parseInt(group, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number);
    return [(a << 8) | b, (c << 8) | d];
  });
}

function canonicalIPv6(address: string): string | undefined {
  try {
    return new SocketAddress({ address, family: 'ipv6' }).address;
  } catch {
    return undefined;
  }
}
