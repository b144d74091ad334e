import { spawnSync } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { cliBin, repoRoot } from '../support/paths.ts';

/** The pinned Node (root devDependency), which runs the TypeScript CLI directly. */
export const nodeBin = realpathSync(join(repoRoot, 'node_modules/.bin/node'));

export const pmapBin = '/usr/bin/pmap';

/** argv prefix that starts fleetpmap's pmap mode. */
export const fleetpmapArgv = [nodeBin, cliBin];

export const pmapArgv = [pmapBin];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): boolean {
  return ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((dir) =>
    executable(join(dir, name)),
  );
}

/**
 * Why the live suite cannot run here, or undefined when it can. With CI=true a reason is a
 * failure, never a skip.
 */
export function liveUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0)
    return 'the live conformance suite needs root (bind mounts over /proc)';
  if (!executable(pmapBin)) return `${pmapBin} (procps-ng 4.0.2) is not installed`;
  for (const tool of ['gcc', 'unshare', 'mount', 'setpriv']) {
    if (!onPath(tool)) return `${tool} is not installed`;
  }
  const version = spawnSync(pmapBin, ['-V'], { encoding: 'latin1' }).stdout;
  if (version !== 'pmap from procps-ng 4.0.2\n') {
    return `${pmapBin} is not procps-ng 4.0.2 (it says ${JSON.stringify(version)})`;
  }
  return undefined;
}

/**
 * Environment for every run: nothing inherited, so the user's locale cannot leak in. `locale` is
 * LC_ALL's value, or the exact set of locale variables to use instead.
 */
export function baseEnv(
  locale: string | Record<string, string>,
  home: string,
): Record<string, string> {
  const localeVars = typeof locale === 'string' ? { LC_ALL: locale } : locale;
  return { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', ...localeVars, HOME: home };
}
