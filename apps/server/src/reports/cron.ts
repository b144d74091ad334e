import { Cron } from 'croner';

/**
 * Throws when a cron pattern never fires: it names a date no month has (`0 0 30 2 *`, February
 * 30; `0 0 31 4 *`, April 31). Such a pattern parses, so without this check a schedule made of it
 * would be accepted and then never write a report. Also throws what croner throws for a pattern
 * it cannot read. `timeZone` (IANA) is the zone the pattern is read in.
 */
export function assertFiresSometime(pattern: string, timeZone?: string): void {
  const cron = new Cron(pattern, {
    paused: true,
    ...(timeZone === undefined ? {} : { timezone: timeZone }),
  });
  if (cron.nextRun() === null) {
    throw new Error('it never fires: no date matches it');
  }
}
