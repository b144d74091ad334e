import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import { ensureAdminToken } from './admin-token.ts';
import type { ServerConfig } from './config.ts';
import { openDatabase } from './database.ts';

/** What the server says once it listens: where, and where its admin token is. */
export type ListeningInfo = {
  url: string;
  adminTokenPath: string;
  adminTokenCreated: boolean;
  adminTokenElsewhere: boolean;
};

type FromWorker =
  | { type: 'fleetpmap:listening'; url: string }
  | { type: 'fleetpmap:metrics'; id: string };
type ToWorker =
  | { type: 'fleetpmap:metrics'; id: string; text: string }
  | { type: 'fleetpmap:metrics'; id: string; error: string };

/**
 * Several server processes on one listening socket (node:cluster), for a multi-core machine:
 * the server is stateless, so workers share nothing but the database. The primary applies the
 * migrations and makes the admin token once, forks the workers, restarts one that dies, and
 * answers their /metrics requests with the sum over all workers.
 */
export async function runPrimary(
  config: ServerConfig,
  log: Logger,
  onListening: (info: ListeningInfo) => void,
): Promise<() => Promise<void>> {
  const database = await openDatabase(config, log);
  const admin = await ensureAdminToken(config.dataDir, database.handle).finally(() =>
    database.close(),
  );
  const aggregator = new AggregatorRegistry();
  let stopping = false;
  // Announced once every worker of the first set listens, so a client never meets a half-started
  // server.
  const listening = new Set<number>();
  let announced = false;

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'fleetpmap:listening' && !announced) {
        listening.add(worker.id);
        if (listening.size < config.workers) return;
        announced = true;
        onListening({
          url: message.url,
          adminTokenPath: admin.path,
          adminTokenCreated: admin.created,
          adminTokenElsewhere: admin.elsewhere,
        });
      } else if (message.type === 'fleetpmap:metrics') {
        aggregator.clusterMetrics().then(
          (text) =>
            worker.send({ type: 'fleetpmap:metrics', id: message.id, text } satisfies ToWorker),
          (error: unknown) => {
            log.warn({ err: error }, 'cluster metrics failed');
            worker.send({
              type: 'fleetpmap:metrics',
              id: message.id,
              error: error instanceof Error ? error.message : String(error),
            } satisfies ToWorker);
          },
        );
      }
    });
    worker.on('exit', (code, signal) => {
      if (stopping) return;
      log.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
      // A second's pause keeps a worker that cannot start (database gone) from spinning.
      setTimeout(() => {
        if (!stopping) fork();
      }, 1000).unref();
    });
    return worker;
  };
  for (let i = 0; i < config.workers; i++) fork();

  return async () => {
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter(
      (w): w is Worker => w !== undefined,
    );
    await Promise.all(
      workers.map(async (w) => {
        const exited = once(w, 'exit');
        w.process.kill('SIGTERM');
        await exited;
      }),
    );
  };
}

/** In a worker: /metrics asks the primary, which gathers every worker's registry. */
export function clusterMetricsFromWorker(): () => Promise<string> {
  const pending = new Map<string, (answer: ToWorker) => void>();
  process.on('message', (message: ToWorker) => {
    if (message?.type !== 'fleetpmap:metrics') return;
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('cluster metrics timed out'));
      }, 5000);
      pending.set(id, (answer) => {
        clearTimeout(timer);
        if ('text' in answer) resolve(answer.text);
        else reject(new Error(`cluster metrics: ${answer.error}`));
      });
      process.send?.({ type: 'fleetpmap:metrics', id } satisfies FromWorker);
    });
}

export function announceListening(url: string): void {
  process.send?.({ type: 'fleetpmap:listening', url } satisfies FromWorker);
}
