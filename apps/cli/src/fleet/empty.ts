import { hostGlobMatches } from '@fleetpmap/protocol/host-glob';
import type { Connection } from './connection.ts';
import { listHosts } from './hosts.ts';

/** The host filters of a fleet query, as given on the command line. */
export interface HostFilters {
  host?: string | undefined;
  labels: Record<string, string>;
}

function describe(f: HostFilters): string {
  return [
    ...(f.host === undefined ? [] : [`--host '${f.host}'`]),
    ...Object.entries(f.labels).map(([k, v]) => `--label ${k}=${v}`),
  ].join(' ');
}

/**
 * Why a filtered query came back empty when the reason is the filter: no host the server knows
 * matches it (a typo in a name or label). Null when some host matches, or nothing was filtered:
 * then the command's own message (nothing leaks, no data yet) is the right one. Asked only for
 * an empty answer, so a query with rows costs no extra request.
 */
export async function noHostMatches(
  connection: Connection,
  filters: HostFilters,
): Promise<string | null> {
  if (filters.host === undefined && Object.keys(filters.labels).length === 0) return null;
  const hosts = await listHosts(connection);
  const matching = hosts.filter(
    (h) =>
      (filters.host === undefined || hostGlobMatches(filters.host, h.name)) &&
      Object.entries(filters.labels).every(([k, v]) => h.labels[k] === v),
  );
  if (matching.length > 0) return null;
  return `no host matches ${describe(filters)} (the server knows ${hosts.length} host${hosts.length === 1 ? '' : 's'}; fleetpmap hosts lists them)\n`;
}
