// pmap's command line as getopt_long sees it, shared by local and remote pmap mode.

import { readFileSync } from 'node:fs';
import {
  MAPS_SORT_FIELDS,
  type PmapMode,
  SMAPS_KB_KEYS,
  SortFieldError,
  X_HIDDEN_KEYS,
} from '@fleetpmap/pmap';
import type { LongOption } from './getopt.ts';

/** pmap 4.0.2's getopt string. */
export const PMAP_SHORT_OPTIONS = 'xXrdqA:hVcC:nN:p';

/** pmap 4.0.2's long options, in its order (the order of getopt's "possibilities" list). */
export const PMAP_LONG_OPTIONS: readonly LongOption[] = [
  { name: 'extended', hasArg: false, val: 'x' },
  { name: 'device', hasArg: false, val: 'd' },
  { name: 'quiet', hasArg: false, val: 'q' },
  { name: 'range', hasArg: true, val: 'A' },
  { name: 'help', hasArg: false, val: 'h' },
  { name: 'version', hasArg: false, val: 'V' },
  { name: 'read-rc', hasArg: false, val: 'c' },
  { name: 'read-rc-from', hasArg: true, val: 'C' },
  { name: 'create-rc', hasArg: false, val: 'n' },
  { name: 'create-rc-to', hasArg: true, val: 'N' },
  { name: 'show-path', hasArg: false, val: 'p' },
];

/** fleetpmap's additions, recognised only when spelled out in full. */
export const EXTENSION_OPTIONS: readonly LongOption[] = [
  { name: 'json', hasArg: false, val: 'json' },
  { name: 'summary', hasArg: false, val: 'summary' },
  { name: 'sort', hasArg: true, val: 'sort' },
];

/** What -V/--version prints. */
export function fleetpmapVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `fleetpmap ${pkg.version}\n`;
}

/**
 * Checks a --sort field before anything is read or printed: the layout's columns, where those of
 * -X, -XX and the rc layouts are the smaps keys the layout shows (a kernel that lacks one still
 * fails when its process is rendered). Returns the error to report, or null.
 */
export function sortFieldError(
  mode: PmapMode,
  field: string,
  rcFields: ReadonlySet<string> | undefined,
): SortFieldError | null {
  let available: readonly string[];
  if (mode === 'default' || mode === 'extended' || mode === 'device') {
    available = MAPS_SORT_FIELDS[mode];
  } else {
    const shown = SMAPS_KB_KEYS.filter((key) =>
      mode === 'X' ? !X_HIDDEN_KEYS.has(key) : mode === 'rc' ? (rcFields?.has(key) ?? false) : true,
    );
    available = [
      'address',
      'perm',
      'offset',
      'device',
      'inode',
      ...shown.map((key) => key.toLowerCase()),
      'vmflags',
      'mapping',
    ];
  }
  return available.includes(field.toLowerCase()) ? null : new SortFieldError(field, available);
}
