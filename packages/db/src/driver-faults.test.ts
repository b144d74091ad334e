import { describe, expect, it } from 'vitest';
import { isClosedSocketWriteFault } from './driver-faults.ts';

describe('isClosedSocketWriteFault', () => {
  /** The fault as postgres.js raises it: a null socket written from its write queue. */
  function nextWriteFault(): unknown {
    const socket = null as unknown as { write(x: unknown): void };
    try {
      socket.write('x');
    } catch (error) {
      const e = error as Error;
      e.stack = `${e.name}: ${e.message}
    at Immediate.nextWrite (file:///srv/node_modules/postgres/src/connection.js:255:22)
    at process.processImmediate (node:internal/timers:485:21)`;
      return e;
    }
    throw new Error('unreachable');
  }

  it('recognises the driver writing to a closed connection, and nothing else', () => {
    expect(isClosedSocketWriteFault(nextWriteFault())).toBe(true);
    const elsewhere = nextWriteFault() as Error;
    elsewhere.stack = elsewhere.stack?.replace('postgres/src/connection.js', 'app/src/queue.js');
    expect(isClosedSocketWriteFault(elsewhere)).toBe(false);
    expect(
      isClosedSocketWriteFault(new TypeError("Cannot read properties of null (reading 'x')")),
    ).toBe(false);
    expect(isClosedSocketWriteFault(new Error('CONNECTION_CLOSED'))).toBe(false);
    expect(isClosedSocketWriteFault(undefined)).toBe(false);
    expect(isClosedSocketWriteFault('TypeError')).toBe(false);
    // As a test runner hands it over from a worker: a plain object with the same fields.
    const { name, message, stack } = nextWriteFault() as Error;
    expect(isClosedSocketWriteFault({ name, message, stack })).toBe(true);
  });
});
