import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ServerDatabase } from './database.ts';
import { startMaintenance } from './maintenance.ts';
import { createMetrics } from './metrics.ts';

const silent = pino({ level: 'silent' });

/** The jobs of a server whose database fails maintenance and hangs its report tick. */
function troubledDatabase() {
  const seen = { reportsAborted: false };
  const database = {
    maintain: () => Promise.reject(new Error('out of shared memory')),
    rollup: () => Promise.resolve({}),
    reports: (stop?: AbortSignal) =>
      new Promise((_, reject) => {
        stop?.addEventListener('abort', () => {
          seen.reportsAborted = true;
          reject(new Error('cut short'));
        });
      }),
  } as unknown as ServerDatabase;
  return { database, seen };
}

describe('the periodic jobs', () => {
  it('count failed runs and successes by job, from 0', async () => {
    const metrics = createMetrics();
    const before = await metrics.registry.metrics();
    expect(before).toMatch(/^fleetpmap_job_runs_total\{job="partitions",outcome="failed"\} 0$/m);
    const { database } = troubledDatabase();
    const stop = startMaintenance(
      database,
      { maintenanceMs: 100, rollupMs: 100, reportsMs: 60_000 },
      silent,
      undefined,
      (job, ok) => metrics.jobRan(job, ok),
    );
    await new Promise((r) => setTimeout(r, 350));
    await stop();
    const text = await metrics.registry.metrics();
    const runs = (job: string, outcome: string) =>
      Number(
        new RegExp(
          `^fleetpmap_job_runs_total\\{job="${job}",outcome="${outcome}"\\} (\\d+)$`,
          'm',
        ).exec(text)?.[1],
      );
    expect(runs('partitions', 'failed')).toBeGreaterThanOrEqual(3);
    expect(runs('partitions', 'ok')).toBe(0);
    expect(runs('rollup', 'ok')).toBeGreaterThanOrEqual(3);
    expect(text).toMatch(/^fleetpmap_job_last_success_timestamp_seconds\{job="partitions"\} 0$/m);
    expect(text).not.toMatch(/^fleetpmap_job_last_success_timestamp_seconds\{job="rollup"\} 0$/m);
  });

  it('stop asks a running job to stop and waits for it', async () => {
    const { database, seen } = troubledDatabase();
    const stop = startMaintenance(
      database,
      { maintenanceMs: 60_000, rollupMs: 60_000, reportsMs: 60_000 },
      silent,
    );
    await stop();
    expect(seen.reportsAborted).toBe(true);
  });
});
