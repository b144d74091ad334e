// The remote side of `HOST:PID`: one fixed POSIX sh script, run in one exec, that prints every
// /proc file a pmap rendering needs, framed so the bytes arrive exactly as the kernel wrote them.
//
// Nothing typed by the user is part of the command: the script is a constant, and its only
// arguments are a mode word chosen here and decimal PIDs that were validated as integers.
//
// Framing, in order:
//   `D PID 1|0\n`                         /proc/PID exists (pmap's "process not found" test)
//   `T PATH\n` BYTES `\0` RC ` ` N `\n` MSG   a text file; BYTES never contain NUL (proc text
//                                          files cannot), MSG is cat's stderr, N bytes long
//   `H PATH\n` HEX `\0` RC ` ` N `\n` MSG     the same for a binary file, as `od` hex (cmdline)
//   `fleetpmap-read 1\n`                   start (what a login shell prints before it is skipped)
//   `S PID\n`                             the script's own shell (left out of comm= matches)
//   `L\n` LINES `\0`                      list mode: every /proc/PID/stat, each of its lines
//                                         as `/proc/PID/stat:LINE\n` (grep's file name prefix)
//   `E\n`                                 end: anything shorter is a truncated read

/** What pmap needs: the header needs status (Tgid), stat (comm, state, startstack), cmdline. */
export type ReadMode = 'maps' | 'smaps';

// One line, no single quote: it travels inside single quotes through the user's login shell,
// which may be csh-like (no multi-line quoted strings there).
const START = 'fleetpmap-read 1';

// biome-ignore-start lint/suspicious/noTemplateCurlyInString: these are shell expansions
const SCRIPT = [
  'export LC_ALL=C',
  // t/h: emit one file with its status; stderr is captured separately from the bytes.
  't(){ printf "T %s\\n" "$1"; { e=$(cat -- "$1" 2>&1 >&3); } 3>&1; s=$?; printf "\\000%s %s\\n%s" "$s" "${#e}" "$e"; }',
  'h(){ printf "H %s\\n" "$1"; { e=$(od -An -v -tx1 -- "$1" 2>&1 >&3); } 3>&1; s=$?; printf "\\000%s %s\\n%s" "$s" "${#e}" "$e"; }',
  // `!` is spelled as an octal escape: a csh login shell would expand it even in single quotes.
  'n=$(printf "\\041")',
  'm=$1',
  'shift',
  'case $m in maps|smaps|list) ;; *) exit 2;; esac',
  // Output starts at this line: anything a login shell's rc files print before it is skipped.
  `printf "${START}\\n"`,
  'printf "S %s\\n" "$$"',
  // list: every process's stat file, for comm= selection done locally. grep starts every line it
  // prints with the file's path (there are always two files or more: /dev/null is one), so a
  // comm holding a newline cannot pass its second line off as another process's stat.
  'if [ "$m" = list ]; then printf "L\\n"; grep "" /proc/[0-9]*/stat /dev/null 2>/dev/null; printf "\\000E\\n"; exit 0; fi',
  't /proc/sysvipc/shm',
  [
    'for p do case $p in ""|*[${n}0-9]*) exit 2;; esac',
    'if [ -d /proc/$p ]; then printf "D %s 1\\n" "$p"; else printf "D %s 0\\n" "$p"; continue; fi',
    't /proc/$p/status; t /proc/$p/stat; h /proc/$p/cmdline',
    // pmap prints a thread's TGID and reads the TGID's maps (reference §2).
    'g=$p',
    'while read -r k v; do if [ "$k" = Tgid: ]; then g=$v; break; fi; done 2>/dev/null </proc/$p/status',
    'case $g in ""|*[${n}0-9]*) g=$p;; esac',
    'if [ "$g" != "$p" ]; then t /proc/$g/status; t /proc/$g/stat; h /proc/$g/cmdline; fi',
    't /proc/$g/$m; done',
  ].join('; '),
  'printf "E\\n"',
].join('; ');
// biome-ignore-end lint/suspicious/noTemplateCurlyInString: these are shell expansions

/**
 * The command line sent to sshd. The login shell only sees a constant single-quoted script and
 * words this module produced; `sudo -n` never prompts (it fails instead).
 */
export function remoteCommand(
  mode: ReadMode | 'list',
  pids: readonly number[],
  sudo: boolean,
): string {
  for (const pid of pids) {
    if (!Number.isSafeInteger(pid) || pid < 1 || pid > 0x7fffffff) {
      throw new Error(`not a process ID: ${pid}`);
    }
  }
  const words = ['sh', '-c', `'${SCRIPT}'`, 'fleetpmap-read', mode, ...pids.map(String)];
  return (sudo ? ['sudo', '-n', '--', ...words] : words).join(' ');
}

export type ProcErrno = 'ENOENT' | 'EACCES' | 'ESRCH' | 'EIO';

export type ProcFile =
  | { ok: true; data: Buffer }
  | { ok: false; errno: ProcErrno; message: string };

/** The files read on the remote host, by absolute path (`/proc/123/smaps`). */
export interface RemoteProcSnapshot {
  /** Whether /proc/PID existed, for every PID asked for. */
  exists: Map<number, boolean>;
  files: Map<string, ProcFile>;
  /** The PID of the remote script itself. */
  selfPid: number | null;
}

export class RemoteReadError extends Error {
  readonly code = 'REMOTE_READ';
  readonly retryable = false;
}

const NUL = 0;
const NL = 0x0a;

/** Whether the script started: its start line is there (else the host ran something else). */
export function readStarted(output: Buffer): boolean {
  return output.includes(`${START}\n`);
}

/** Parses the script's output; throws RemoteReadError when the framing is broken or cut short. */
export function parseRemoteOutput(output: Buffer): RemoteProcSnapshot {
  const snapshot: RemoteProcSnapshot = { exists: new Map(), files: new Map(), selfPid: null };
  const start = output.indexOf(`${START}\n`);
  if (start === -1) throw new RemoteReadError('remote read framing broken (no start line)');
  let at = start + START.length + 1;
  const line = (): string => {
    const end = output.indexOf(NL, at);
    if (end === -1) throw new RemoteReadError('remote read cut short');
    const text = output.toString('latin1', at, end);
    at = end + 1;
    return text;
  };
  for (;;) {
    if (at >= output.length) throw new RemoteReadError('remote read cut short');
    const head = line();
    if (head === 'E') return snapshot;
    const kind = head.slice(0, 2);
    const rest = head.slice(2);
    if (kind === 'S ') {
      snapshot.selfPid = Number(rest);
    } else if (kind === 'D ') {
      const [pid, flag] = rest.split(' ');
      snapshot.exists.set(Number(pid), flag === '1');
    } else if (kind === 'T ' || kind === 'H ') {
      const end = output.indexOf(NUL, at);
      if (end === -1) throw new RemoteReadError('remote read cut short');
      const body = output.subarray(at, end);
      at = end + 1;
      const status = line();
      const match = /^([0-9]+) ([0-9]+)$/.exec(status);
      if (match === null) throw new RemoteReadError('remote read framing broken');
      const messageBytes = Number(match[2]);
      if (at + messageBytes > output.length) throw new RemoteReadError('remote read cut short');
      const message = output.toString('latin1', at, at + messageBytes);
      at += messageBytes;
      const data = kind === 'H ' ? fromOdHex(body) : Buffer.from(body);
      snapshot.files.set(
        rest,
        match[1] === '0'
          ? { ok: true, data }
          : { ok: false, errno: errnoOf(message), message: stripPrefix(message) },
      );
    } else if (head === 'L') {
      const end = output.indexOf(NUL, at);
      if (end === -1) throw new RemoteReadError('remote read cut short');
      snapshot.files.set('list', { ok: true, data: Buffer.from(output.subarray(at, end)) });
      at = end + 1;
    } else {
      throw new RemoteReadError('remote read framing broken');
    }
  }
}

/**
 * Whether a process exited before or while the script read it: /proc/PID was gone, or one of its
 * files was, or its reading failed for lack of the process (a process that is still there but
 * hidden reads EACCES instead).
 */
export function exitedDuringRead(snapshot: RemoteProcSnapshot, pid: number): boolean {
  if (snapshot.exists.get(pid) !== true) return true;
  // Looked up by name: a host's read holds up to thousands of processes' files.
  return PROCESS_FILES.some((name) => {
    const file = snapshot.files.get(`/proc/${pid}/${name}`);
    return file?.ok === false && (file.errno === 'ENOENT' || file.errno === 'ESRCH');
  });
}

/** The files the script reads per process (one of the map files, by mode). */
const PROCESS_FILES = ['status', 'stat', 'cmdline', 'maps', 'smaps'] as const;

/** Decodes `od -An -v -tx1` output: hex byte pairs separated by blanks and newlines. */
function fromOdHex(text: Buffer): Buffer {
  const digits = text.toString('latin1').replace(/[\s]+/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-f]*$/.test(digits)) {
    throw new RemoteReadError('remote read framing broken (hex)');
  }
  return Buffer.from(digits, 'hex');
}

function errnoOf(message: string): ProcErrno {
  if (message.includes('No such file or directory')) return 'ENOENT';
  if (message.includes('Permission denied') || message.includes('Operation not permitted')) {
    return 'EACCES';
  }
  if (message.includes('No such process')) return 'ESRCH';
  return 'EIO';
}

/** `cat: /proc/1/maps: Permission denied\n` → `Permission denied`. */
function stripPrefix(message: string): string {
  const text = message.trim();
  const last = text.lastIndexOf(': ');
  return last === -1 ? text : text.slice(last + 2);
}

/** One process of a `list` read: its PID and comm, from /proc/PID/stat. */
export interface ListedProcess {
  pid: number;
  comm: string;
}

/** What grep puts before every line of a stat file: the path, which holds the PID. */
const LIST_LINE = /^\/proc\/([0-9]{1,10})\/stat:/;

/**
 * Splits the stat files of a `list` read (grep's `PATH:LINE` lines). The PID is the directory's;
 * comm is what lies between the first `(` and the last `)` of its own file, as ps and pmap read
 * it, so spaces, parentheses and newlines in it stay in it. Throws RemoteReadError when no
 * process was listed: the script's own shell always is, so the listing itself failed.
 */
export function parseProcessList(data: Buffer): ListedProcess[] {
  const files = new Map<number, string[]>();
  for (const line of data.toString('latin1').split('\n')) {
    const match = LIST_LINE.exec(line);
    // Every line grep prints has the prefix; only the piece after the last newline is empty.
    if (match === null) continue;
    const pid = Number(match[1]);
    const lines = files.get(pid) ?? [];
    lines.push(line.slice(match[0].length));
    files.set(pid, lines);
  }
  if (files.size === 0) throw new RemoteReadError('remote process list is empty (is grep there?)');
  const result: ListedProcess[] = [];
  for (const [pid, lines] of files) {
    const stat = lines.join('\n');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (open === -1 || close < open) continue;
    result.push({ pid, comm: stat.slice(open + 1, close) });
  }
  return result;
}
