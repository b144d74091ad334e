import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** One connection through the proxy. */
export interface ProxiedConnection {
  /** its place in the order the proxy accepted connections, from 0 */
  readonly index: number;
  /**
   * the local port of the proxy's connection to the database: the `client_port` the database
   * shows for the backend (`pg_stat_activity`, `inet_client_port()`)
   */
  readonly serverSidePort: number | undefined;
}

export interface FaultyProxy extends AsyncDisposable {
  readonly port: number;
  /** the URL of `url`'s database, through this proxy */
  via(url: string): string;
  /** drops every connection and refuses new ones, as a stopped database server does */
  refuse(): Promise<void>;
  /**
   * Keeps every connection open but passes no more bytes either way, and accepts new connections
   * without answering: a host that went silent (blackholed, frozen, a stalled network).
   */
  hang(): void;
  /**
   * Keeps the connections open now but passes no more bytes on them, for good, while new ones
   * work: the old connections' path is gone (a failover that moved the database's address, a
   * firewall that forgot their flows), without any reset.
   */
  freeze(): void;
  /** `freeze`, for the open connections `which` picks only; returns how many it froze */
  freezeWhere(which: (connection: ProxiedConnection) => boolean): number;
  /** forwards again: connections held while hanging go on where they stopped */
  restore(): Promise<void>;
}

/** A TCP proxy on loopback in front of a real Postgres, for outage tests. */
export async function createFaultyProxy(target: {
  host: string;
  port: number;
}): Promise<FaultyProxy> {
  type Pair = { client: Socket; upstream: Socket; index: number };
  const pairs = new Set<Pair>();
  /** frozen for good: not forwarded again by `restore` (but destroyed on dispose) */
  const frozen = new Set<Pair>();
  let accepted = 0;
  let hanging = false;
  let server: Server | undefined;
  let port = 0;

  const pipe = (pair: Pair) => {
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };
  const unpipe = (pair: Pair) => {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  };

  const listen = async () => {
    server = createServer((client) => {
      const upstream = createConnection(target);
      const pair = { client, upstream, index: accepted++ };
      pairs.add(pair);
      for (const s of [client, upstream]) {
        s.on('close', () => {
          pairs.delete(pair);
          frozen.delete(pair);
        });
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      if (hanging) unpipe(pair);
      else pipe(pair);
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  const destroyAll = () => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
  };
  const freezeWhere = (which: (connection: ProxiedConnection) => boolean) => {
    let count = 0;
    for (const pair of pairs) {
      if (!which({ index: pair.index, serverSidePort: pair.upstream.localPort })) continue;
      if (!hanging && !frozen.has(pair)) unpipe(pair);
      frozen.add(pair);
      count++;
    }
    return count;
  };
  await listen();

  return {
    get port() {
      return port;
    },
    via(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async refuse() {
      hanging = false;
      const closed = new Promise((resolve) => server?.close(resolve));
      destroyAll();
      await closed;
    },
    hang() {
      hanging = true;
      for (const pair of pairs) unpipe(pair);
    },
    freeze() {
      freezeWhere(() => true);
    },
    freezeWhere,
    async restore() {
      if (hanging) {
        hanging = false;
        for (const pair of pairs) if (!frozen.has(pair)) pipe(pair);
      }
      if (!server?.listening) await listen();
    },
    async [Symbol.asyncDispose]() {
      destroyAll();
      if (server?.listening) await new Promise((resolve) => server?.close(resolve));
    },
  };
}
