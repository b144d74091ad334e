import type { AppRouter } from '@fleetpmap/api';
import { hostGlobProblem } from '@fleetpmap/protocol/host-glob';
import type { inferRouterOutputs } from '@trpc/server';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { parseDurationMs } from './at-time.ts';
import { call } from './client.ts';
import type { Connection } from './connection.ts';
import { FleetCommandError } from './errors.ts';
import { isoTime, printable, table } from './format.ts';
import { output, parseConnectionOptions, withConnectionOptions } from './options.ts';

type Outputs = inferRouterOutputs<AppRouter>['token'];
export type TokenRow = Outputs['list'][number];
export type CreatedTokenRow = Outputs['create'];

const ROLES = ['agent', 'reader', 'admin', 'enroll'] as const;

const createOptionsSchema = z.object({
  role: z.enum(ROLES),
  host: z.string().optional(),
  label: z.string().optional(),
  expires: z.string().optional(),
});

export function createToken(
  connection: Connection,
  opts: z.infer<typeof createOptionsSchema>,
): Promise<CreatedTokenRow> {
  if (opts.role === 'agent' && opts.host === undefined) {
    throw new FleetCommandError('an agent token is bound to one host: give --host NAME');
  }
  if (opts.role !== 'agent' && opts.role !== 'enroll' && opts.host !== undefined) {
    throw new FleetCommandError('--host applies to agent and enroll tokens only');
  }
  const problem =
    opts.role === 'enroll' && opts.host !== undefined ? hostGlobProblem(opts.host) : null;
  if (problem !== null) {
    throw new FleetCommandError(
      `--host "${printable(opts.host ?? '')}": not a host glob: ${problem}`,
    );
  }
  const expiresInMs =
    opts.expires === undefined ? undefined : parseDurationMs(opts.expires, '--expires');
  // For an enroll token `--host` is a glob of the hosts it may enroll, not one host.
  const host =
    opts.host === undefined
      ? {}
      : opts.role === 'enroll'
        ? { hostPattern: opts.host }
        : { hostName: opts.host };
  return call(connection, (c) =>
    c.token.create.mutate({
      role: opts.role,
      ...host,
      ...(opts.label === undefined ? {} : { label: opts.label }),
      ...(expiresInMs === undefined ? {} : { expiresInMs }),
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
    ['ID', 'ROLE', 'HOST', 'LABEL', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
    tokens.map((t) => [
      t.id,
      t.role,
      t.hostName ?? (t.role === 'enroll' ? (t.hostPattern ?? '*') : '-'),
      t.label ?? '-',
      isoTime(t.createdAtMs),
      isoTime(t.lastUsedAtMs),
      isoTime(t.expiresAtMs),
      isoTime(t.revokedAtMs),
    ]),
  );
}

const create = withConnectionOptions(
  new Command('create')
    .description('create a token; prints the secret once on stdout (only its hash is stored)')
    .addOption(
      new Option(
        '--role <role>',
        'what the token may do (enroll: agents trade it for a token of their own host)',
      )
        .choices([...ROLES])
        .makeOptionMandatory(),
    )
    .option(
      '--host <name>',
      'the host an agent token may write; for an enroll token, a glob of the hosts it may enroll (* ? [0-9] [!a] {web,db})',
    )
    .option('--label <text>', 'a note to recognise the token by')
    .option('--expires <duration>', 'refuse the token after this long, e.g. 24h, 30d'),
).action(async (raw: Record<string, unknown>) => {
  const { connection, json } = parseConnectionOptions(raw);
  const opts = createOptionsSchema.parse(raw);
  const created = await createToken(connection, opts);
  output(json, created, () => `${created.token}\n`);
  if (!json) {
    const bound =
      created.hostName !== null
        ? ` for host ${created.hostName}`
        : created.role === 'enroll'
          ? ` for hosts ${created.hostPattern ?? '*'}`
          : '';
    const until = created.expiresAtMs === null ? '' : `, until ${isoTime(created.expiresAtMs)}`;
    process.stderr.write(
      printable(`created ${created.role} token ${created.id}${bound}${until}`) +
        '; the secret above is not shown again\n',
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
  output(json, revoked, () => `${printable(`revoked token ${revoked.id} (${revoked.role})`)}\n`);
});

export const tokenCommand = new Command('token')
  .description('create, list and revoke API tokens (admin)')
  .addCommand(create.exitOverride())
  .addCommand(list.exitOverride())
  .addCommand(revoke.exitOverride());
