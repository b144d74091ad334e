/**
 * postgres.js 3.4.9 (the newest release) can throw from a `setImmediate` callback when a
 * connection closes while a small write is queued: `nextWrite` then calls `socket.write` on a
 * socket `closed()` already set to null (porsager/postgres#1154, #1208; fixes proposed upstream,
 * not released). By then the query on that connection has been rejected with CONNECTION_CLOSED,
 * so the queued bytes are moot, but the throw escapes every `try` as an uncaught exception and
 * would take the server down whenever the database goes away. This recognises exactly that
 * fault, so the server's entry point can log it and go on; anything else stays fatal.
 */
export function isClosedSocketWriteFault(error: unknown): boolean {
  if (!(error instanceof Error) && (typeof error !== 'object' || error === null)) return false;
  const { name, message, stack } = error as { name?: unknown; message?: unknown; stack?: unknown };
  return (
    name === 'TypeError' &&
    typeof message === 'string' &&
    /\(reading 'write'\)|evaluating 'socket\.write'/.test(message) &&
    typeof stack === 'string' &&
    /\bnextWrite\b/.test(stack) &&
    /postgres[\\/]src[\\/]connection\.js/.test(stack)
  );
}
