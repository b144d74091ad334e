import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { WHOLE_FLEET } from '@fleetpmap/analysis';
import {
  ApiError,
  type ApiErrorCode,
  type ApiServices,
  createQueryServices,
  createReportServices,
  type HostSummary,
  type RefreshOutcome,
  type Role,
  refreshVerdicts,
  type TokenInfo,
} from '@fleetpmap/api';
import {
  createDb,
  createToken,
  type DbHandle,
  EnrollmentRefused,
  enrollAgent,
  ingestSnapshot,
  LastAdminToken,
  listHosts,
  listTokens,
  type MaintenanceResult,
  MIGRATIONS_DIR,
  maintainPartitions,
  migrate,
  queryRows,
  revokeToken,
  rollupAggregates,
  SERVER_SCHEDULE,
  SnapshotExpired,
  verifyToken,
  withoutQueryParams,
} from '@fleetpmap/db';
import type { Logger } from 'pino';
import { withAuthCache } from './auth-cache.ts';
import { ConfigError, type ServerConfig } from './config.ts';
import type { Readiness } from './http-server.ts';
import {
  createReportTick,
  processName,
  type ReportSchedule,
  type ReportTickOutcome,
  type ReportWebhooks,
} from './reports/scheduler.ts';
import type { Webhook } from './reports/webhook.ts';

/** How a refused enrollment is answered: a taken host is a conflict, not a bad token. */
const ENROLLMENT_ERRORS: Record<EnrollmentRefused['reason'], ApiErrorCode> = {
  'enroll-token': 'UNAUTHENTICATED',
  'host-pattern': 'FORBIDDEN',
  'host-taken': 'CONFLICT',
};

export type ServerDatabase = {
  handle: DbHandle;
  services: ApiServices;
  readiness(): Promise<Readiness>;
  /** partition creation and retention (advisory lock: one replica at a time) */
  maintain(): Promise<MaintenanceResult>;
  /**
   * 5-minute and hourly aggregates from new sample blocks, then the leak verdicts of the
   * configured windows that are due (each one replica at a time)
   */
  rollup(): Promise<Awaited<ReturnType<typeof rollupAggregates>> & { verdicts: RefreshOutcome[] }>;
  /**
   * the scheduled report when its slot is due (one replica builds it), then due deliveries;
   * `stop` aborting cuts the deliveries in flight short and claims no more
   */
  reports(stop?: AbortSignal): Promise<ReportTickOutcome>;
  /** sample blocks stored (one per accepted snapshot part); for tests and the benchmark */
  storedSnapshotCount(): Promise<number>;
  close(): Promise<void>;
};

/** How long a verified token is trusted without asking the database again. */
const AUTH_CACHE_MS = 10_000;

/** `<dataDir>/pglite` when no database URL is configured. */
export function pgliteDir(config: ServerConfig): string {
  return join(config.dataDir, 'pglite');
}

/** Opens the configured database and applies the committed migrations before anything else. */
export async function openDatabase(config: ServerConfig, log: Logger): Promise<ServerDatabase> {
  const webhooks = await readWebhooks(config, log);
  const handle = await createDb(config.databaseUrl, { dataDir: pgliteDir(config) });
  try {
    await migrate(handle);
  } catch (error) {
    await handle.close();
    throw error;
  }
  log.info({ driver: handle.driver }, 'database ready, migrations applied');
  const { db } = handle;
  const expectedMigrations = await countJournalEntries();

  const toTokenInfo = (t: Awaited<ReturnType<typeof listTokens>>[number]): TokenInfo => ({
    id: String(t.id),
    role: t.role as Role,
    hostName: t.hostName,
    hostPattern: t.hostPattern,
    label: t.note === '' ? null : t.note,
    createdAtMs: t.createdMs,
    lastUsedAtMs: t.lastUsedMs,
    revokedAtMs: t.revokedMs,
    expiresAtMs: t.expiresMs,
  });

  const services: ApiServices = {
    async authenticate(secret) {
      const t = await verifyToken(db, secret);
      return t ? { tokenId: String(t.id), role: t.role as Role, hostName: t.hostName } : null;
    },
    async ingestSnapshot(snapshot) {
      let r: Awaited<ReturnType<typeof ingestSnapshot>>;
      try {
        r = await ingestSnapshot(db, snapshot, { retention: config.retention });
      } catch (err) {
        if (!(err instanceof SnapshotExpired)) throw err;
        throw new ApiError('INVALID_INPUT', err.message, { field: 'takenAtMs' });
      }
      return {
        duplicate: r.duplicate,
        processCount: r.processCount,
        mappingCount: r.mappingCount,
        mappingsStored: r.mappingsStored,
      };
    },
    async listHosts(): Promise<HostSummary[]> {
      return (await listHosts(db)).map((h) => ({
        name: h.name,
        labels: h.labels,
        agentVersion: h.agentVersion,
        kernel: h.kernel,
        lastSeenMs: h.lastSeenMs,
        processCount: h.processCount,
      }));
    },
    async createToken(opts) {
      const t = await createToken(db, {
        role: opts.role,
        ...(opts.hostName === null ? {} : { hostName: opts.hostName }),
        ...(opts.label === null ? {} : { note: opts.label }),
        ...(opts.hostPattern == null ? {} : { hostPattern: opts.hostPattern }),
        ...(opts.expiresAtMs == null ? {} : { expiresMs: opts.expiresAtMs }),
      });
      return { ...toTokenInfo(t), token: t.token };
    },
    async enrollAgent(enrollTokenId, hostName) {
      try {
        const t = await enrollAgent(db, { enrollTokenId: Number(enrollTokenId), hostName });
        log.info({ host: hostName, tokenId: t.id, enrolledBy: t.enrolledBy }, 'agent enrolled');
        return { ...toTokenInfo(t), token: t.token };
      } catch (err) {
        if (!(err instanceof EnrollmentRefused)) throw err;
        log.warn({ host: hostName, enrollTokenId, reason: err.reason }, 'enrollment refused');
        throw new ApiError(ENROLLMENT_ERRORS[err.reason], err.message);
      }
    },
    async listTokens() {
      return (await listTokens(db, { includeRevoked: true })).map(toTokenInfo);
    },
    async revokeToken(id) {
      try {
        const t = await revokeToken(db, /^\d{1,9}$/.test(id) ? Number(id) : id);
        return t ? toTokenInfo(t) : null;
      } catch (err) {
        if (err instanceof LastAdminToken) throw new ApiError('CONFLICT', err.message);
        throw err;
      }
    },
    queries: createQueryServices(db),
    reports: createReportServices(db, {
      claimedBy: processName(),
      canDeliver: webhooks.fallback !== undefined,
    }),
  };
  const reportTick = createReportTick(db, reportSchedules(config), { webhooks });

  const database: ServerDatabase = {
    handle,
    services: withAuthCache(withoutParamsInFailures(services), { ttlMs: AUTH_CACHE_MS }),
    async readiness() {
      try {
        const [row] = await queryRows<{ n: number | string }>(
          db,
          'select count(*) as n from drizzle.__drizzle_migrations',
        );
        const applied = Number(row?.n ?? 0);
        return applied >= expectedMigrations
          ? { ready: true, detail: `${handle.driver}: ${applied} migrations applied` }
          : { ready: false, detail: `${applied} of ${expectedMigrations} migrations applied` };
      } catch (error) {
        // The driver's text (host names, user names, addresses) is for the log, not the probe.
        return { ready: false, detail: 'database unavailable', error };
      }
    },
    maintain: () => maintainPartitions(db, { nowMs: Date.now(), retention: config.retention }),
    async rollup() {
      const rolled = await rollupAggregates(db);
      const verdicts = await refreshVerdicts(
        db,
        { windowsMs: config.verdictWindowsMs, metrics: config.verdictMetrics },
        { nowMs: Date.now() },
      );
      return { ...rolled, verdicts };
    },
    reports: (stop) => reportTick(stop),
    async storedSnapshotCount() {
      const [row] = await queryRows<{ n: number | string }>(
        db,
        'select count(*) as n from sample_blocks',
      );
      return Number(row?.n ?? 0);
    },
    close: () => handle.close(),
  };
  // Every failure on its way to a log loses its query's parameters (see withoutQueryParams).
  return {
    ...withoutParamsInFailures(database),
    handle,
    services: database.services,
  };
}

/**
 * `target` with each of its methods (and those of the plain objects it holds) passing their
 * failures through `withoutQueryParams`: the server logs what comes out of them.
 */
function withoutParamsInFailures<T extends object>(target: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(target)) {
    if (typeof value === 'function') {
      out[key] = (...args: unknown[]) => {
        try {
          const result = value.apply(target, args);
          return result instanceof Promise
            ? result.catch((error: unknown) => {
                throw withoutQueryParams(error);
              })
            : result;
        } catch (error) {
          throw withoutQueryParams(error);
        }
      };
    } else if (value !== null && typeof value === 'object' && isPlainObject(value)) {
      out[key] = withoutParamsInFailures(value);
    } else {
      out[key] = value;
    }
  }
  return out as T;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The server's own schedule (`scheduled`, the whole fleet) when it is on, then the teams'. */
export function reportSchedules(config: ServerConfig): ReportSchedule[] {
  const own: ReportSchedule[] =
    config.report.schedule === null
      ? []
      : [
          {
            name: SERVER_SCHEDULE,
            pattern: config.report.schedule,
            timeZone: config.report.timeZone,
            windowMs: config.report.windowMs,
            metric: config.report.metric,
            scope: WHOLE_FLEET,
          },
        ];
  return [
    ...own,
    ...config.teamReports.map((t) => ({
      name: t.name,
      pattern: t.schedule,
      timeZone: t.timeZone,
      windowMs: t.window,
      metric: t.metric,
      scope: { hostGlob: t.hosts ?? null, labels: t.labels ?? null },
    })),
  ];
}

/**
 * The configured webhooks, with their signing secrets read from their files now: a secret that
 * cannot be read stops the server at start rather than at the first delivery hours later.
 */
async function readWebhooks(config: ServerConfig, log: Logger): Promise<ReportWebhooks> {
  const bySchedule = new Map<string, Webhook>();
  for (const t of config.teamReports) {
    const hook = await readWebhook(t.webhookUrl, t.webhookSecretFile, log);
    if (hook) bySchedule.set(t.name, hook);
  }
  const { webhookUrl, webhookSecretFile } = config.report;
  return { fallback: await readWebhook(webhookUrl, webhookSecretFile, log), bySchedule };
}

async function readWebhook(
  url: string | undefined,
  file: string | undefined,
  log: Logger,
): Promise<Webhook | undefined> {
  if (url === undefined) return undefined;
  if (file === undefined) return { url };
  let secret: string;
  try {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      log.warn({ file }, 'the webhook secret file is readable by other users; chmod 600 it');
    }
    secret = (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new ConfigError(
      `cannot read the webhook secret file ${file}: ${(error as Error).message}`,
    );
  }
  if (secret.length < 16) {
    throw new ConfigError(`the webhook secret in ${file} is shorter than 16 characters`);
  }
  return { url, secret };
}

async function countJournalEntries(): Promise<number> {
  const journal = JSON.parse(await readFile(join(MIGRATIONS_DIR, 'meta', '_journal.json'), 'utf8'));
  return (journal as { entries: unknown[] }).entries.length;
}
