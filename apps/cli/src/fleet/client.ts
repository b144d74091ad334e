import type { AppRouter } from '@fleetpmap/api';
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';

/** Type-only import of the router: the CLI never loads server or database code. */
export function createFleetClient(connection: Connection) {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${connection.server}/trpc`,
        headers: () =>
          connection.token === undefined ? {} : { authorization: `Bearer ${connection.token}` },
      }),
    ],
  });
}

export type FleetClient = ReturnType<typeof createFleetClient>;

/** Runs one call and turns transport and server errors into one-line messages. */
export async function call<T>(connection: Connection, fn: (c: FleetClient) => Promise<T>) {
  try {
    return await fn(createFleetClient(connection));
  } catch (error) {
    if (error instanceof TRPCClientError) {
      const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus;
      if (status === undefined) {
        const cause = error.cause instanceof Error ? error.cause : error;
        throw new FleetCommandError(
          `cannot reach the server at ${connection.server}: ${describeCause(cause)}`,
        );
      }
      const hint =
        status === 401 && connection.token === undefined
          ? ' (give a token with --token, FLEETPMAP_TOKEN or the config file)'
          : '';
      throw new FleetCommandError(`server answered ${status}: ${error.message}${hint}`);
    }
    throw error;
  }
}

function describeCause(error: Error): string {
  const inner = error.cause;
  if (inner instanceof Error && 'code' in inner) return `${String(inner.code)} ${inner.message}`;
  return error.message;
}
