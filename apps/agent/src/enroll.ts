import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { EnrollingPushClient } from './push.ts';

export interface EnrollOptions {
  client: EnrollingPushClient;
  hostName: string;
  enrollToken: string;
  /** where the agent token is saved for later starts */
  tokenFile: string;
  clock: Clock;
  log: Logger;
  /** longest wait between attempts while the server cannot be reached */
  maxDelayMs: number;
  /** first wait; doubles per attempt up to `maxDelayMs` */
  baseDelayMs?: number;
  /** give up (returning 'unreachable') when the monotonic clock passes this */
  deadlineMono?: number;
  signal: AbortSignal;
  random?: () => number;
}

/**
 * How enrollment ended: enrolled (the client now pushes with the host's own token), refused for
 * good (a taken host name, a revoked or expired enroll token: retrying cannot help), or stopped
 * before it succeeded (the agent was stopped, or the deadline passed with the server unreachable).
 */
export type EnrollResult = 'enrolled' | 'refused' | 'unreachable';

/**
 * Trades the enroll token for this host's agent token, retrying while the server cannot be
 * reached or asks to wait (the agent keeps collecting into its spool meanwhile), and saves the
 * token before using it, so a restart does not enroll again (the host name would then be taken).
 */
export async function enrollHost(o: EnrollOptions): Promise<EnrollResult> {
  const base = o.baseDelayMs ?? 1000;
  const random = o.random ?? Math.random;
  for (let attempt = 1; !o.signal.aborted; attempt++) {
    const outcome = await o.client.enroll(o.hostName, o.enrollToken);
    if (outcome.ok) {
      try {
        await saveToken(o.tokenFile, outcome.token);
        o.log.info({ tokenId: outcome.tokenId, tokenFile: o.tokenFile }, 'enrolled this host');
      } catch (err) {
        // The token still works for this run; only a restart would lose it.
        o.log.error(
          { tokenId: outcome.tokenId, tokenFile: o.tokenFile, err: (err as Error).message },
          'enrolled, but the agent token could not be saved: after a restart this host cannot ' +
            'enroll again until that token is revoked',
        );
      }
      return 'enrolled';
    }
    if (!outcome.retryable) {
      o.log.error(
        { status: outcome.status, err: outcome.message },
        'enrollment refused; the agent cannot push',
      );
      return 'refused';
    }
    const ceiling = Math.min(o.maxDelayMs, base * 2 ** Math.min(attempt - 1, 30));
    const waitMs = ceiling / 2 + (ceiling / 2) * random();
    if (o.deadlineMono !== undefined && o.clock.monoMs() + waitMs > o.deadlineMono) break;
    o.log.warn(
      { status: outcome.status, err: outcome.message, retryInMs: Math.round(waitMs) },
      'enrollment failed; retrying',
    );
    await o.clock.sleep(waitMs, o.signal);
  }
  return 'unreachable';
}

/**
 * Writes the token readable by the agent's user only. It goes to a temporary file first and is
 * renamed into place, so a crash never leaves a half-written token that would block enrollment.
 */
export async function saveToken(path: string, token: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  // A leftover of a crashed write is removed, so the mode below applies to a new file.
  await unlink(temporary).catch(() => {});
  const file = await open(temporary, 'wx', 0o600);
  try {
    await file.writeFile(`${token}\n`, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temporary, path);
  } catch (err) {
    await unlink(temporary).catch(() => {});
    throw err;
  }
}
