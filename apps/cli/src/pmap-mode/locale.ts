import { existsSync, readFileSync } from 'node:fs';

// pmap calls setlocale(LC_ALL, "") and escapes command lines by the resulting codeset. That call
// takes each category from LC_ALL, else LC_<CATEGORY>, else LANG; if any of them names a locale
// that is not installed, the whole call fails and the program stays in the "C" locale (ASCII).
// https://man7.org/linux/man-pages/man3/setlocale.3.html

const CATEGORIES = [
  'LC_CTYPE',
  'LC_NUMERIC',
  'LC_TIME',
  'LC_COLLATE',
  'LC_MONETARY',
  'LC_MESSAGES',
  'LC_PAPER',
  'LC_NAME',
  'LC_ADDRESS',
  'LC_TELEPHONE',
  'LC_MEASUREMENT',
  'LC_IDENTIFICATION',
] as const;

type Env = Readonly<Record<string, string | undefined>>;

function categoryLocale(env: Env, category: string): string {
  for (const name of ['LC_ALL', category, 'LANG']) {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
  }
  return 'C';
}

// glibc's normalisation of the codeset part: lower case, letters and digits only (UTF-8 -> utf8).
function normalizeCodeset(codeset: string): string {
  return codeset.toLowerCase().replace(/[^a-z0-9]/g, '');
}

function splitLocale(name: string): { base: string; codeset: string | null; modifier: string } {
  const at = name.indexOf('@');
  const modifier = at < 0 ? '' : name.slice(at);
  const main = at < 0 ? name : name.slice(0, at);
  const dot = main.indexOf('.');
  return dot < 0
    ? { base: main, codeset: null, modifier }
    : { base: main.slice(0, dot), codeset: main.slice(dot + 1), modifier };
}

export type LocaleExists = (name: string) => boolean;

/** Whether glibc can load `name`: C/POSIX, the built-in C.UTF-8, or a compiled locale. */
export function installedLocale(name: string, localeDir = '/usr/lib/locale'): boolean {
  if (name === 'C' || name === 'POSIX') return true;
  if (name.includes('/') || name.startsWith('.')) return false;
  const { base, codeset, modifier } = splitLocale(name);
  if (base === 'C' && codeset !== null && normalizeCodeset(codeset) === 'utf8') return true;
  const candidates = [name];
  if (codeset !== null) candidates.push(`${base}.${normalizeCodeset(codeset)}${modifier}`);
  if (candidates.some((c) => existsSync(`${localeDir}/${c}/LC_CTYPE`))) return true;
  return inLocaleArchive(candidates, `${localeDir}/locale-archive`);
}

// locale-gen compiles locales into one archive; its name table holds NUL-terminated names.
function inLocaleArchive(names: readonly string[], archive: string): boolean {
  let data: Buffer;
  try {
    data = readFileSync(archive);
  } catch {
    return false;
  }
  return names.some((n) => data.includes(Buffer.from(`\0${n}\0`, 'latin1')));
}

/** Whether pmap's setlocale(LC_ALL, "") would end in a UTF-8 codeset for this environment. */
export function utf8Codeset(env: Env, exists: LocaleExists = installedLocale): boolean {
  const names = CATEGORIES.map((c) => categoryLocale(env, c));
  if (!names.every((n) => exists(n))) return false;
  const { codeset } = splitLocale(categoryLocale(env, 'LC_CTYPE'));
  return codeset !== null && normalizeCodeset(codeset) === 'utf8';
}
