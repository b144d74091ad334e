import { createHmac } from 'node:crypto';
import { type LeakReport, reportSummary } from '@fleetpmap/analysis';
import { SERVER_VERSION } from '../version.ts';

/** A receiver that has not answered by then is treated as down; the delivery is retried. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** Waits before the 2nd, 3rd, … try; after the last one the delivery is given up. */
export const DELIVERY_BACKOFF_MS = [60_000, 5 * 60_000, 15 * 60_000, 60 * 60_000] as const;

/** The receiver did not answer within the timeout: it may hang on the next delivery too. */
export class NoAnswerError extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs / 1000} s`);
    this.name = 'NoAnswerError';
  }
}

export interface Webhook {
  url: string;
  /** signs every delivery when set (see `signature`) */
  secret?: string | undefined;
}

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver recomputes it with the
 * shared secret, and rejects an old `t`, so a captured delivery cannot be replayed later.
 */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * The JSON a webhook receives: `text` is a few plain lines for chat tools that post a message's
 * `text` as is (Slack, Mattermost, Rocket.Chat), `report` the whole report for anything else.
 */
export function webhookBody(id: number, report: LeakReport): string {
  return JSON.stringify({ id, text: chatText(reportSummary(report)), report });
}

/**
 * Chat tools read `<…>` in a message's text as mentions and links (`<!channel>`,
 * `<https://x|label>`) and want `&`, `<` and `>` as entities: a command line on some host must not
 * page a whole channel or show a disguised link.
 */
export function chatText(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * POSTs one report. Resolves when the receiver answered 2xx; rejects with a one-line reason
 * otherwise. Redirects are not followed: a report goes only where it was configured to go.
 */
export async function postReport(
  hook: Webhook,
  id: number,
  report: LeakReport,
  nowMs: number = Date.now(),
  timeoutMs: number = WEBHOOK_TIMEOUT_MS,
  /** aborts the send when the server shuts down */
  stop?: AbortSignal,
): Promise<void> {
  const body = webhookBody(id, report);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': `fleetpmap-server/${SERVER_VERSION}`,
    'x-fleetpmap-report-id': String(id),
  };
  if (hook.secret !== undefined) {
    headers['x-fleetpmap-signature'] = signature(hook.secret, body, Math.floor(nowMs / 1000));
  }
  let response: Response;
  try {
    response = await fetch(hook.url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal:
        stop === undefined
          ? AbortSignal.timeout(timeoutMs)
          : AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]),
    });
  } catch (error) {
    if (stop?.aborted) throw new Error('cut short: the server was shutting down');
    if ((error as Error).name === 'TimeoutError') throw new NoAnswerError(timeoutMs);
    const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
    throw new Error(
      `cannot reach it: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
    );
  }
  // The answer's body is not needed; dropping it frees the connection.
  await response.body?.cancel().catch(() => undefined);
  if (response.status < 200 || response.status > 299) {
    throw new Error(`it answered HTTP ${response.status}`);
  }
}
