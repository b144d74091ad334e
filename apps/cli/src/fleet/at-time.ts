import { FleetCommandError } from './errors.ts';

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** `90s`, `30m`, `6h`, `7d`, `1w` (and combinations such as `1h30m`) in ms. */
export function parseDurationMs(text: string, what = 'duration'): number {
  const t = text.trim();
  if (!/^(\d{1,6}[smhdw])+$/.test(t)) {
    throw new FleetCommandError(`${what} "${text}": expected a length such as 30m, 6h, 24h or 7d`);
  }
  let ms = 0;
  for (const [, n, unit] of t.matchAll(/(\d+)([smhdw])/g)) {
    ms += Number(n) * (UNIT_MS[unit as string] as number);
  }
  if (ms <= 0) throw new FleetCommandError(`${what} "${text}" must be longer than zero`);
  return ms;
}

/**
 * A point in time: `now`, an ISO date (`2026-11-23`, `2026-11-23T10:00:00Z`; without a zone it is
 * UTC, so a command means the same on every machine) or a relative form (`2h` = two hours ago).
 */
export function parseTimeMs(text: string, nowMs: number, what = 'time'): number {
  const t = text.trim();
  if (t === 'now') return nowMs;
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const zoned = /([zZ]|[+-]\d{2}:?\d{2})$/.test(t) || !t.includes('T') ? t : `${t}Z`;
    const ms = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(zoned) ? `${zoned}T00:00:00Z` : zoned);
    if (!Number.isFinite(ms)) throw new FleetCommandError(`${what} "${text}" is not a valid date`);
    return ms;
  }
  if (/^\d/.test(t)) return nowMs - parseDurationMs(t.replace(/ ?ago$/, ''), what);
  throw new FleetCommandError(
    `${what} "${text}": expected an ISO date (2026-11-23T10:00:00Z), "now" or a relative time such as 2h`,
  );
}
