import { EventEmitter } from 'node:events';
import { BlockList, Server, type Socket, SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capConnections, capKey } from './connections.ts';

describe('capKey', () => {
  it('counts an IPv6 address by its /64, written compressed', () => {
    expect(capKey('2001:db8::1')).toBe('2001:db8::/64');
    expect(capKey('2001:db8::ffff:1')).toBe('2001:db8::/64');
    expect(capKey('2001:db8:0:7::1')).toBe('2001:db8:0:7::/64');
    expect(capKey('2001:db8:0:0:1::1')).toBe('2001:db8::/64');
    expect(capKey('2001:db8:1::')).toBe('2001:db8:1::/64');
    expect(capKey('1::')).toBe('1::/64');
    expect(capKey('::1')).toBe('::/64');
    // A dotted tail is still the interface part.
    expect(capKey('2001:db8:0:7::10.0.0.1')).toBe('2001:db8:0:7::/64');
  });

  it('reads the full and upper-case forms as the same /64', () => {
    expect(capKey('2001:0db8:0000:0007:0000:0000:0000:0001')).toBe('2001:db8:0:7::/64');
    expect(capKey('2001:DB8:0:7:AAAA:BBBB:CCCC:DDDD')).toBe('2001:db8:0:7::/64');
    expect(capKey('1:2:3:4:5:6:7:8')).toBe('1:2:3:4::/64');
    expect(capKey('1:2:3:4:5:6:1.2.3.4')).toBe('1:2:3:4::/64');
  });

  it('keeps the zone of a scoped address after its /64: each link has its own fe80::/64', () => {
    expect(capKey('fe80::1%eth0')).toBe('fe80::/64%eth0');
    expect(capKey('fe80::fc:ff:fe00:1%eth0')).toBe('fe80::/64%eth0');
    expect(capKey('fe80::1%eth1')).toBe('fe80::/64%eth1');
    expect(capKey('fe80::1%2')).toBe('fe80::/64%2');
  });

  it('counts IPv4 by the whole address, written plainly or mapped into IPv6', () => {
    for (const mapped of [
      '::ffff:10.0.0.1',
      '::FFFF:10.0.0.1',
      '::ffff:a00:1',
      '::ffff:0a00:0001',
      '0:0:0:0:0:ffff:10.0.0.1',
      '0000:0000:0000:0000:0000:ffff:0a00:0001',
    ]) {
      expect(capKey(mapped)).toBe('10.0.0.1');
    }
    expect(capKey('10.0.0.1')).toBe('10.0.0.1');
    // Its neighbours are not grouped with it, mapped or not.
    expect(capKey('10.0.0.2')).toBe('10.0.0.2');
    expect(capKey('::ffff:10.0.0.2')).toBe('10.0.0.2');
    expect(capKey('::ffff:255.255.255.255')).toBe('255.255.255.255');
  });

  it('gives two IPv6 addresses one key exactly when they are in one /64', () => {
    // Node's BlockList is the judge of what lies in a /64. Mapped addresses are left out: they
    // count as IPv4 (above).
    const notMapped = fc.ipV6().filter((address) => !capKey(address).includes('.'));
    fc.assert(
      fc.property(notMapped, notMapped, (a, b) => {
        const key = capKey(a);
        expect(key).toMatch(/^[0-9a-f:]+\/64$/);
        const subnet = new BlockList();
        subnet.addSubnet(key.slice(0, -'/64'.length), 64, 'ipv6');
        expect(subnet.check(a, 'ipv6')).toBe(true);
        expect(capKey(b) === key).toBe(subnet.check(b, 'ipv6'));
      }),
      { numRuns: 2_000 },
    );
    // Random pairs rarely share a /64: two interfaces of one prefix, one written in full and
    // one compressed, always do.
    const word = fc.integer({ min: 0, max: 0xffff }).map((w) => w.toString(16));
    const words = fc.tuple(word, word, word, word).map((w) => w.join(':'));
    fc.assert(
      fc.property(words, words, words, (prefix, one, other) => {
        const full = `${prefix}:${one}`;
        const compressed = new SocketAddress({ address: `${prefix}:${other}`, family: 'ipv6' });
        fc.pre(!capKey(full).includes('.') && !capKey(compressed.address).includes('.'));
        expect(capKey(compressed.address)).toBe(capKey(full));
      }),
      { numRuns: 2_000 },
    );
  });
});

/** A connection from `address` as far as the cap sees one: it is closed by `destroy()`. */
function connectionFrom(address: string) {
  const socket = Object.assign(new EventEmitter(), {
    remoteAddress: address,
    destroyed: false,
    destroy() {
      socket.destroyed = true;
      socket.emit('close');
      return socket;
    },
  });
  return socket;
}

describe('capConnections per address', () => {
  function cappedServer(perAddress: number) {
    const server = new Server();
    const refused: string[] = [];
    const caps = capConnections(server, { max: 100, perAddress }, (cap) => refused.push(cap));
    const connect = (address: string) => {
      const socket = connectionFrom(address);
      server.emit('connection', socket as unknown as Socket);
      return socket;
    };
    return { caps, refused, connect };
  }

  it('counts the addresses of one IPv6 /64 together, and each IPv4 address alone', () => {
    const { caps, refused, connect } = cappedServer(2);
    const held = [connect('2001:db8:0:7::1'), connect('2001:db8:0:7::2')];
    // A third address of the same /64 is over the cap, however it is written.
    expect(connect('2001:db8:0:7:ffff::3').destroyed).toBe(true);
    expect(connect('2001:0DB8:0000:0007:0000:0000:0000:0004').destroyed).toBe(true);
    // The next /64 has a cap of its own.
    expect(connect('2001:db8:0:8::1').destroyed).toBe(false);
    // IPv4 addresses, mapped or not, are capped one by one.
    expect(connect('10.0.0.1').destroyed).toBe(false);
    expect(connect('::ffff:10.0.0.1').destroyed).toBe(false);
    expect(connect('::ffff:10.0.0.1').destroyed).toBe(true);
    expect(connect('10.0.0.2').destroyed).toBe(false);
    expect(refused).toEqual(['per_address', 'per_address', 'per_address']);
    expect(Object.fromEntries(caps.openByAddress())).toEqual({
      '2001:db8:0:7::/64': 2,
      '2001:db8:0:8::/64': 1,
      '10.0.0.1': 2,
      '10.0.0.2': 1,
    });

    // One connection of the /64 closed: any address of it gets in again.
    held[0]?.destroy();
    expect(connect('2001:db8:0:7::99').destroyed).toBe(false);
    expect(refused).toHaveLength(3);
    expect(caps.openByAddress().get('2001:db8:0:7::/64')).toBe(2);
  });
});
