import { DrizzleQueryError } from 'drizzle-orm';

/**
 * Takes a failed query's parameters out of an error chain, in place, before it is logged:
 * drizzle's `Failed query: <sql>\nparams: <values>` (message, stack and `params`) keeps its SQL
 * text, and the server's `detail`, which echoes values (`Key (token_hash)=(...) already exists`),
 * goes too, as do the drivers' copies of the values. Parameters hold token hashes, host names, command lines: nothing for a log. The
 * driver's code and message stay. Returns the error it was given.
 */
export function withoutQueryParams<T>(error: T): T {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Object; depth++) {
    if (current instanceof DrizzleQueryError) {
      const before = current.message;
      const message = `Failed query: ${current.query}`;
      if (before !== message) {
        current.message = message;
        const stack = current.stack ?? '';
        current.stack = stack.includes(before)
          ? stack.replace(before, () => message)
          : `${current.name}: ${message}`;
      }
    }
    // drizzle's `params`, PGlite's `params`, postgres.js's `parameters` and `args` (hidden unless
    // its debug option is on) and the server's `detail`
    for (const key of ['params', 'parameters', 'args', 'detail']) {
      if (Object.hasOwn(current, key)) Reflect.deleteProperty(current, key);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return error;
}
