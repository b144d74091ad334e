import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Command } from 'commander';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { ago, table } from './format.ts';
import { output, parseConnectionOptions, withConnectionOptions } from './options.ts';

export type HostRow = inferRouterOutputs<AppRouter>['host']['list'][number];

export function listHosts(connection: Connection): Promise<HostRow[]> {
  return call(connection, (c) => c.host.list.query());
}

export function renderHosts(hosts: HostRow[], nowMs: number = Date.now()): string {
  if (hosts.length === 0) return 'no hosts have pushed a snapshot yet\n';
  return table(
    ['HOST', 'LABELS', 'AGENT', 'KERNEL', 'LAST SEEN', 'PROCESSES'],
    hosts.map((h) => [
      h.name,
      Object.entries(h.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
      h.agentVersion ?? '-',
      h.kernel ?? '-',
      ago(h.lastSeenMs, nowMs),
      String(h.processCount),
    ]),
  );
}

export const hostsCommand = withConnectionOptions(
  new Command('hosts').description(
    'list the hosts that push snapshots: labels, agent version, last seen, processes',
  ),
).action(async (raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const hosts = await listHosts(connection);
  output(json, hosts, () => renderHosts(hosts));
});
