import { hostNameSchema } from '@fleetpmap/protocol';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { ROLES } from '../services.ts';
import { adminProcedure, enrollProcedure, router } from '../trpc.ts';
import { checkHostGlob } from './query.ts';

export const tokenInfoSchema = z.strictObject({
  id: z.string(),
  role: z.enum(ROLES),
  hostName: z.string().nullable(),
  hostPattern: z.string().nullable(),
  label: z.string().nullable(),
  createdAtMs: z.int(),
  lastUsedAtMs: z.int().nullable(),
  revokedAtMs: z.int().nullable(),
  expiresAtMs: z.int().nullable(),
});

/** A host glob: host-name characters and the glob's `* ? [ ] ! ^ { } ,`, well formed. */
const hostPatternSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[A-Za-z0-9._*?[\]!^{},-]+$/,
    'a host glob: letters, digits, . _ - and the glob characters * ? [ ] ! ^ { } ,',
  )
  .superRefine(checkHostGlob);

/** Longest lifetime a token may be given at creation: ten years, in ms. */
const MAX_TOKEN_LIFETIME_MS = 10 * 366 * 24 * 3_600_000;

export const createdTokenSchema = tokenInfoSchema.extend({ token: z.string() });

const tokenIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'a token id');

export const createTokenInputSchema = z
  .strictObject({
    role: z.enum(ROLES),
    hostName: hostNameSchema.optional(),
    label: z
      .string()
      .max(200)
      .refine((s) => !s.includes('\u0000') && s.isWellFormed(), {
        message: 'contains U+0000 or an unpaired surrogate, which cannot be stored',
      })
      .optional(),
    hostPattern: hostPatternSchema.optional(),
    /** how long the token is accepted, from now */
    expiresInMs: z.int().min(60_000).max(MAX_TOKEN_LIFETIME_MS).optional(),
  })
  .superRefine((v, ctx) => {
    if (v.role === 'agent' && v.hostName === undefined) {
      ctx.addIssue({ code: 'custom', path: ['hostName'], message: 'an agent token needs a host' });
    }
    if (v.role !== 'agent' && v.hostName !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['hostName'],
        message: 'only agent tokens are bound to a host',
      });
    }
    if (v.role !== 'enroll' && v.hostPattern !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['hostPattern'],
        message: 'only enroll tokens take a host pattern',
      });
    }
  });

export const tokenRouter = router({
  create: adminProcedure
    .input(createTokenInputSchema)
    .output(createdTokenSchema)
    .mutation(({ ctx, input }) =>
      ctx.services.createToken({
        role: input.role,
        hostName: input.hostName ?? null,
        label: input.label ?? null,
        hostPattern: input.hostPattern ?? null,
        expiresAtMs: input.expiresInMs === undefined ? null : Date.now() + input.expiresInMs,
      }),
    ),
  /**
   * An agent holding the fleet's enroll token asks for its own agent token. The host name is the
   * agent's to choose, within the enroll token's pattern, and only while no live token has it.
   */
  enroll: enrollProcedure
    .input(z.strictObject({ hostName: hostNameSchema }))
    .output(createdTokenSchema)
    .mutation(({ ctx, input }) => ctx.services.enrollAgent(ctx.identity.tokenId, input.hostName)),
  list: adminProcedure
    .output(z.array(tokenInfoSchema))
    .query(({ ctx }) => ctx.services.listTokens()),
  revoke: adminProcedure
    .input(z.strictObject({ id: tokenIdSchema }))
    .output(tokenInfoSchema)
    .mutation(async ({ ctx, input }) => {
      const revoked = await ctx.services.revokeToken(input.id);
      if (!revoked) throw new ApiError('NOT_FOUND', `no token with id ${input.id}`);
      return revoked;
    }),
});
