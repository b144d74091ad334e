import { hostNameSchema } from '@fleetpmap/protocol';
import { z } from 'zod';
import { ApiError } from '../errors.ts';
import { ROLES } from '../services.ts';
import { adminProcedure, router } from '../trpc.ts';

export const tokenInfoSchema = z.strictObject({
  id: z.string(),
  role: z.enum(ROLES),
  hostName: z.string().nullable(),
  label: z.string().nullable(),
  createdAtMs: z.int(),
  lastUsedAtMs: z.int().nullable(),
  revokedAtMs: z.int().nullable(),
});

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
      }),
    ),
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
