/**
 * A maps/smaps mapping line as a 64-bit kernel prints it: the name, if any, starts at column 73.
 * Used by the tests to build inputs.
 */
export function mapLine(
  range: string,
  perms: string,
  offset: string,
  dev: string,
  inode: string,
  name = '',
): string {
  const head = `${range} ${perms} ${offset} ${dev} ${inode} `;
  return name === '' ? head : head.padEnd(73) + name;
}
