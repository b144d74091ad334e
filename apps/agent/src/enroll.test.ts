import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollHost } from './enroll.ts';
import type { EnrollingPushClient, EnrollOutcome } from './push.ts';
import { FakeClock } from './test-support.ts';

const TOKEN = `fpm_${'a'.repeat(43)}`;

/** A client whose enroll attempts answer, in turn, with the given outcomes. */
function scripted(outcomes: EnrollOutcome[]) {
  const calls: { hostName: string; enrollToken: string }[] = [];
  const client: EnrollingPushClient = {
    push: () => Promise.reject(new Error('not used')),
    enroll(hostName, enrollToken) {
      calls.push({ hostName, enrollToken });
      const next = outcomes.shift();
      if (!next) throw new Error('more attempts than scripted');
      return Promise.resolve(next);
    },
  };
  return { client, calls };
}

const down: EnrollOutcome = { ok: false, retryable: true, message: 'ECONNREFUSED' };

describe('enrollHost', () => {
  let dir: string;
  const log = pino({ level: 'silent' });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetpmap-enroll-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('retries while the server is unreachable, then saves the token for the agent user only', async () => {
    const clock = new FakeClock();
    const { client, calls } = scripted([down, down, { ok: true, token: TOKEN, tokenId: '7' }]);
    const tokenFile = join(dir, 'state', 'agent-token');
    const result = enrollHost({
      client,
      hostName: 'web-07',
      enrollToken: 'fpm_enroll',
      tokenFile,
      clock,
      log,
      maxDelayMs: 60_000,
      signal: new AbortController().signal,
      random: () => 0.5,
    });
    // Backoff with jitter: 0.75 s, then 1.5 s.
    for (let i = 0; i < 50 && calls.length < 3; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(250);
    }
    expect(await result).toBe('enrolled');
    expect(calls).toEqual(Array(3).fill({ hostName: 'web-07', enrollToken: 'fpm_enroll' }));
    expect(await readFile(tokenFile, 'utf8')).toBe(`${TOKEN}\n`);
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
  });

  it('gives up at once when the server refuses: retrying cannot free a taken host name', async () => {
    const { client, calls } = scripted([
      { ok: false, retryable: false, status: 409, message: 'host web-07 is already enrolled' },
    ]);
    const result = await enrollHost({
      client,
      hostName: 'web-07',
      enrollToken: 'fpm_enroll',
      tokenFile: join(dir, 'agent-token'),
      clock: new FakeClock(),
      log,
      maxDelayMs: 60_000,
      signal: new AbortController().signal,
    });
    expect(result).toBe('refused');
    expect(calls).toHaveLength(1);
    await expect(stat(join(dir, 'agent-token'))).rejects.toThrow(/ENOENT/);
  });

  it('stops at the deadline while the server stays unreachable', async () => {
    const clock = new FakeClock();
    const { client, calls } = scripted([down, down, down, down, down, down]);
    const result = enrollHost({
      client,
      hostName: 'web-07',
      enrollToken: 'fpm_enroll',
      tokenFile: join(dir, 'agent-token'),
      clock,
      log,
      maxDelayMs: 60_000,
      deadlineMono: clock.monoMs() + 5_000,
      signal: new AbortController().signal,
      random: () => 0,
    });
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(250);
    }
    expect(await result).toBe('unreachable');
    // Waits of 0.5, 1 and 2 s fit before the deadline; the next (4 s) would not.
    expect(calls).toHaveLength(4);
  });

  it('keeps the enrolled token for this run when it cannot be saved', async () => {
    // A file where the state directory should be: no user, root included, can save there.
    const notADirectory = join(dir, 'state');
    await writeFile(notADirectory, '');
    const { client } = scripted([{ ok: true, token: TOKEN, tokenId: '8' }]);
    const lines: string[] = [];
    const result = await enrollHost({
      client,
      hostName: 'web-08',
      enrollToken: 'fpm_enroll',
      tokenFile: join(notADirectory, 'agent-token'),
      clock: new FakeClock(),
      log: pino({ level: 'error' }, { write: (l: string) => lines.push(l) }),
      maxDelayMs: 60_000,
      signal: new AbortController().signal,
    });
    expect(result).toBe('enrolled');
    expect(lines.join('')).toMatch(/could not be saved.*revoked/);
  });
});
