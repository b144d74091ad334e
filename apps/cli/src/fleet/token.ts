import type { AppRouter } from '@fleetpmap/api';
import type { inferRouterOutputs } from '@trpc/server';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { isoTime, table } from './format.ts';
import { output, parseConnectionOptions, withConnectionOptions } from './options.ts';

type Outputs = inferRouterOutputs<AppRouter>['token'];
export type TokenRow = Outputs['list'][number];
export type CreatedTokenRow = Outputs['create'];

const createOptionsSchema = z.object({
  role: z.enum(['agent', 'reader', 'admin']),
  host: z.string().optional(),
  label: z.string().optional(),
});

export function createToken(
  connection: Connection,
  opts: z.infer<typeof createOptionsSchema>,
): Promise<CreatedTokenRow> {
  if (opts.role === 'agent' && opts.host === undefined) {
    throw new FleetCommandError('an agent token is bound to one host: give --host NAME');
  }
  if (opts.role !== 'agent' && opts.host !== undefined) {
    throw new FleetCommandError('--host applies to agent tokens only');
  }
  return call(connection, (c) =>
    c.token.create.mutate({
      role: opts.role,
      ...(opts.host === undefined ? {} : { hostName: opts.host }),
      ...(opts.label === undefined ? {} : { label: opts.label }),
    }),
  );
}

export function listTokens(connection: Connection): Promise<TokenRow[]> {
  return call(connection, (c) => c.token.list.query());
}

export function revokeToken(connection: Connection, id: string): Promise<TokenRow> {
  return call(connection, (c) => c.token.revoke.mutate({ id }));
}

export function renderTokens(tokens: TokenRow[]): string {
  if (tokens.length === 0) return 'no tokens\n';
  return table(
    ['ID', 'ROLE', 'HOST', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'],
    tokens.map((t) => [
      t.id,
      t.role,
      t.hostName ?? '-',
      t.label ?? '-',
      isoTime(t.createdAtMs),
      isoTime(t.lastUsedAtMs),
      isoTime(t.revokedAtMs),
    ]),
  );
}

const create = withConnectionOptions(
  new Command('create')
    .description('create a token; prints the secret once on stdout (only its hash is stored)')
    .addOption(
      new Option('--role <role>', 'what the token may do')
        .choices(['agent', 'reader', 'admin'])
        .makeOptionMandatory(),
    )
    .option('--host <name>', 'the host an agent token may write')
    .option('--label <text>', 'a note to recognise the token by'),
).action(async (raw: Record<string, unknown>) => {
  const { connection, json } = parseConnectionOptions(raw);
  const opts = createOptionsSchema.parse(raw);
  const created = await createToken(connection, opts);
  output(json, created, () => `${created.token}\n`);
  if (!json) {
    const bound = created.hostName === null ? '' : ` for host ${created.hostName}`;
    process.stderr.write(
      `created ${created.role} token ${created.id}${bound}; the secret above is not shown again\n`,
    );
  }
});

const list = withConnectionOptions(
  new Command('list').description('list tokens (never their secrets)'),
).action(async (raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const tokens = await listTokens(connection);
  output(json, tokens, () => renderTokens(tokens));
});

const revoke = withConnectionOptions(
  new Command('revoke').description('revoke a token by id').argument('<id>', 'token id'),
).action(async (id: string, raw: unknown) => {
  const { connection, json } = parseConnectionOptions(raw);
  const revoked = await revokeToken(connection, id);
  output(json, revoked, () => `revoked token ${revoked.id} (${revoked.role})\n`);
});

export const tokenCommand = new Command('token')
  .description('create, list and revoke API tokens (admin)')
  .addCommand(create.exitOverride())
  .addCommand(list.exitOverride())
  .addCommand(revoke.exitOverride());
