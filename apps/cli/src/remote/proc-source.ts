// The seam between where /proc files come from and the pmap renderer: the local file system, or a
// snapshot of the files read on a remote host in one round trip.

import type { RemoteProcSnapshot } from './remote-read.ts';

/** Read access to a /proc tree. Paths are relative to the proc root: `123/smaps`, `sysvipc/shm`. */
export interface ProcSource {
  /** Whether `/proc/PID` exists (pmap's test for "process not found"). */
  exists(pid: number): Promise<boolean>;
  /**
   * The file's bytes. Failures are thrown like node:fs does, as an Error whose `code` is the errno
   * name (`ENOENT`, `EACCES`, `ESRCH`, `EIO`), so a renderer treats both sources alike.
   */
  read(path: string): Promise<Buffer>;
}

/** A ProcSource over the files a remote read returned; anything not fetched is ENOENT. */
export function snapshotSource(snapshot: RemoteProcSnapshot, host: string): ProcSource {
  return {
    exists: async (pid) => snapshot.exists.get(pid) === true,
    read: async (path) => {
      const file = snapshot.files.get(`/proc/${path}`);
      if (file === undefined) {
        throw errnoError('ENOENT', `${host}:/proc/${path}: No such file or directory`);
      }
      if (!file.ok) throw errnoError(file.errno, `${host}:/proc/${path}: ${file.message}`);
      return file.data;
    },
  };
}

function errnoError(code: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = code;
  return error;
}
