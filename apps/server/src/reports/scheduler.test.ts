import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { CATCH_UP_MS, dueSlot } from './scheduler.ts';

const MINUTE = 60_000;

describe('dueSlot', () => {
  const daily = new Cron('0 6 * * *', { paused: true, timezone: 'UTC' });
  const six = Date.UTC(2026, 10, 24, 6, 0, 0);

  it("is the day's 06:00 from 06:00 until an hour later, then nothing until the next day", () => {
    expect(dueSlot(daily, six)).toBe(six);
    expect(dueSlot(daily, six + 59 * MINUTE)).toBe(six);
    expect(dueSlot(daily, six + CATCH_UP_MS)).toBe(six);
    expect(dueSlot(daily, six + CATCH_UP_MS + 1000)).toBeUndefined();
    expect(dueSlot(daily, six - 1000)).toBeUndefined();
    expect(dueSlot(daily, six + 24 * 60 * MINUTE)).toBe(six + 24 * 60 * MINUTE);
  });

  it("reads the pattern in the schedule's time zone, summer time included", () => {
    const berlin = new Cron('0 6 * * *', { paused: true, timezone: 'Europe/Berlin' });
    // 06:00 in Berlin is 05:00 UTC in November (CET) and 04:00 UTC in July (CEST)
    expect(dueSlot(berlin, Date.UTC(2026, 10, 24, 5, 30))).toBe(Date.UTC(2026, 10, 24, 5, 0));
    expect(dueSlot(berlin, Date.UTC(2026, 6, 1, 4, 10))).toBe(Date.UTC(2026, 6, 1, 4, 0));
    expect(dueSlot(berlin, Date.UTC(2026, 10, 24, 6, 30))).toBeUndefined();
  });

  it('takes the newest slot of a frequent schedule', () => {
    const quarterly = new Cron('*/15 * * * *', { paused: true, timezone: 'UTC' });
    expect(dueSlot(quarterly, six + 44 * MINUTE)).toBe(six + 30 * MINUTE);
  });
});
