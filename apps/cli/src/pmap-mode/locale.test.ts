import { describe, expect, it } from 'vitest';
import { installedLocale, utf8Codeset } from './locale.ts';

const onlyC = (name: string): boolean =>
  name === 'C' || name === 'POSIX' || /^C\.utf-?8$/i.test(name);

describe('codeset after setlocale(LC_ALL, "")', () => {
  it('follows LC_ALL, then LC_CTYPE, then LANG', () => {
    expect(utf8Codeset({ LANG: 'C.UTF-8' }, onlyC)).toBe(true);
    expect(utf8Codeset({ LANG: 'C.UTF-8', LC_ALL: 'C' }, onlyC)).toBe(false);
    expect(utf8Codeset({ LANG: 'C', LC_CTYPE: 'C.utf8' }, onlyC)).toBe(true);
    expect(utf8Codeset({ LC_ALL: '', LANG: 'C.UTF-8' }, onlyC)).toBe(true);
    expect(utf8Codeset({}, onlyC)).toBe(false);
  });

  it('stays in the C locale when any category names a locale that is not installed', () => {
    expect(utf8Codeset({ LANG: 'C.UTF-8', LC_MESSAGES: 'xx_YY.UTF-8' }, onlyC)).toBe(false);
    expect(utf8Codeset({ LC_ALL: 'xx_YY.UTF-8' }, onlyC)).toBe(false);
  });

  it('knows the built-in locales', () => {
    expect(installedLocale('C.UTF-8')).toBe(true);
    expect(installedLocale('POSIX')).toBe(true);
    expect(installedLocale('zz_ZZ.UTF-8', '/nonexistent')).toBe(false);
  });
});
