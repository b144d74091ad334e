// Remote targets: `HOST:PID`, `USER@HOST:PID`, `[IPV6]:PID` and `HOST:comm=NAME`.
//
// Everything here is validated before any connection is opened. Host, user and comm never reach a
// remote shell (the remote read is a fixed script that receives only decimal PIDs), but strict
// validation still keeps option-looking names (`-oProxyCommand=…`) and control bytes out of
// ssh_config matching, known_hosts lookups and error messages.

export interface RemoteTarget {
  /** The argument as typed, for messages. */
  arg: string;
  /** Host as typed (an ssh_config alias, a name or an address), without brackets or user. */
  host: string;
  /** `user@` prefix, if given. */
  user: string | undefined;
  /** A process ID, or `null` when `comm` selects processes by command name. */
  pid: number | null;
  /** Command name (the kernel's `comm`, at most 15 bytes) to select, or `null`. */
  comm: string | null;
}

export class TargetError extends Error {
  readonly code = 'BAD_TARGET';
  readonly retryable = false;
}

/** The kernel caps pid_max at 2^22 (PID_MAX_LIMIT); pmap itself accepts up to 0x7fffffff. */
const PID_MAX = 0x7fffffff;
/** TASK_COMM_LEN is 16 bytes including the terminating NUL. */
const COMM_MAX_BYTES = 15;
/** RFC 1035 limit for a full domain name. */
const HOST_MAX = 253;

const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$/;
const DECIMAL = /^[0-9]{1,10}$/;

/** Digits and dots only: an IPv4 address if it has four parts of 0..255, else not a host. */
const DIGITS_AND_DOTS = /^[0-9.]+$/;
const IPV4 =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/**
 * Whether a host typed before `:` can name a host: `1` in `1:2` is far more likely a typo than the
 * address 0.0.0.1, so a host of digits and dots has to be a dotted-quad IPv4 address; any other
 * name needs a letter, `-` or `_`.
 */
function plausibleHost(host: string): boolean {
  return !DIGITS_AND_DOTS.test(host) || IPV4.test(host);
}

/**
 * Whether a command-line argument names a remote target rather than a local PID. Local PID forms
 * (`123`, `0x7b`, `/proc/123`) never contain a colon; `1:2`, whose host is only digits, is not a
 * target either, and stays pmap's argument (which pmap refuses with its usage text).
 */
export function isRemoteTargetArg(arg: string): boolean {
  if (!arg.includes(':') || arg.startsWith('/proc/') || arg.startsWith('-')) return false;
  let rest = arg;
  const at = rest.indexOf('@');
  if (at !== -1 && at < rest.indexOf(':')) rest = rest.slice(at + 1);
  if (rest.startsWith('[')) return true;
  return plausibleHost(rest.slice(0, rest.indexOf(':')));
}

/** Parses and validates one remote target; throws TargetError with a message naming the problem. */
export function parseRemoteTarget(arg: string): RemoteTarget {
  if (arg.length > 512) throw new TargetError(`target too long: ${printable(arg.slice(0, 40))}…`);
  let rest = arg;
  let host: string;
  let user: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1 && at < (rest.indexOf(':') === -1 ? Infinity : rest.indexOf(':'))) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (!USER_NAME.test(user)) throw new TargetError(`invalid user name in ${quote(arg)}`);
  }
  let selector: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1 || rest[close + 1] !== ':') {
      throw new TargetError(`invalid target ${quote(arg)}: expected [ADDRESS]:PID`);
    }
    host = rest.slice(1, close);
    selector = rest.slice(close + 2);
    if (!IPV6.test(host) || !host.includes(':')) {
      throw new TargetError(`invalid IPv6 address in ${quote(arg)}`);
    }
  } else {
    const colon = rest.indexOf(':');
    if (colon === -1) throw new TargetError(`invalid target ${quote(arg)}: expected HOST:PID`);
    host = rest.slice(0, colon);
    selector = rest.slice(colon + 1);
    if (host.length === 0 || host.length > HOST_MAX || !HOST_NAME.test(host)) {
      throw new TargetError(`invalid host name in ${quote(arg)}`);
    }
    if (!plausibleHost(host)) {
      throw new TargetError(
        `invalid host name in ${quote(arg)}: digits alone are not taken as a host (an IPv4 address has four parts)`,
      );
    }
  }
  if (selector.startsWith('comm=')) {
    const comm = selector.slice('comm='.length);
    validateComm(comm, arg);
    return { arg, host, user, pid: null, comm };
  }
  if (!DECIMAL.test(selector)) {
    throw new TargetError(`invalid process ID in ${quote(arg)}: expected a decimal number`);
  }
  const pid = Number(selector);
  if (pid < 1 || pid > PID_MAX) throw new TargetError(`process ID out of range in ${quote(arg)}`);
  return { arg, host, user, pid, comm: null };
}

function validateComm(comm: string, arg: string): void {
  const bytes = Buffer.byteLength(comm, 'utf8');
  if (bytes === 0) throw new TargetError(`empty command name in ${quote(arg)}`);
  if (bytes > COMM_MAX_BYTES) {
    throw new TargetError(
      `command name too long in ${quote(arg)}: the kernel keeps at most ${COMM_MAX_BYTES} bytes`,
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what is rejected
  if (/[\u0000-\u001f\u007f]/.test(comm)) {
    throw new TargetError(`control character in command name in ${quote(arg)}`);
  }
  // The name is matched locally and never sent, but shell and glob syntax in it is far more
  // likely an injection attempt or a mistaken pattern than a real command name.
  if (/[$`;&|<>'"\\*?{}!~^#]/.test(comm)) {
    throw new TargetError(
      `invalid command name in ${quote(arg)}: shell or pattern characters are not accepted`,
    );
  }
}

/** Quotes an argument for a message, with control bytes made visible. */
export function quote(text: string): string {
  return `'${printable(text)}'`;
}

function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control bytes are what is replaced
  return text.replace(/[\u0000-\u001f\u007f]/g, '?');
}
