// known_hosts checking as OpenSSH does it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): plain and
// hashed (`|1|salt|HMAC-SHA1`) host fields, `*`/`?` patterns with `!` negation, `[host]:port`
// for non-standard ports, `@revoked` markers. `@cert-authority` lines are skipped: host
// certificates are not supported.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
// The subpath: remote mode starts without the protocol's schemas (zod). OpenSSH's patterns, not
// the host globs of `--host`: `[` starts `[host]:port`, never a set of characters.
import { wildcardMatches } from '@fleetpmap/protocol/host-glob';

export interface KnownHostEntry {
  file: string;
  line: number;
  marker: 'revoked' | 'cert-authority' | null;
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'known' }
  | { status: 'unknown'; knownTypes: string[] }
  | { status: 'changed'; offending: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry };

/** Lines longer than this are ignored, like OpenSSH's line-length limit. */
const LINE_MAX = 16 * 1024;
const FILE_MAX_BYTES = 64 << 20;

/**
 * A host name as OpenSSH looks it up and records it: in lower case (ssh lowercases the host name,
 * and the HostKeyAlias, before it reads or writes known_hosts; plain patterns are compared in
 * lower case and hashed entries hash the lower-case name). ASCII only, as its `tolower`.
 */
export function lowerHostName(name: string): string {
  return name.replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/**
 * The string known_hosts stores for a host: `name`, or `[name]:port` when the port is not 22,
 * in lower case.
 */
export function knownHostsName(host: string, port: number): string {
  const name = lowerHostName(host);
  return port === 22 ? name : `[${name}]:${port}`;
}

/** Reads every entry of the given files; missing files are simply empty. */
export function loadKnownHosts(files: readonly string[]): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      if (statSync(file).size > FILE_MAX_BYTES) continue;
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const entry = parseLine(lines[i] ?? '', file, i + 1);
      if (entry !== null) entries.push(entry);
    }
  }
  return entries;
}

function parseLine(raw: string, file: string, line: number): KnownHostEntry | null {
  if (raw.length > LINE_MAX) return null;
  const fields = raw.trim().split(/[ \t]+/);
  if (fields.length === 0 || fields[0] === '' || fields[0]?.startsWith('#')) return null;
  let marker: KnownHostEntry['marker'] = null;
  if (fields[0] === '@revoked' || fields[0] === '@cert-authority') {
    marker = fields[0] === '@revoked' ? 'revoked' : 'cert-authority';
    fields.shift();
  } else if (fields[0]?.startsWith('@')) {
    return null;
  }
  const [hosts, keyType, keyText] = fields;
  if (hosts === undefined || keyType === undefined || keyText === undefined) return null;
  const key = Buffer.from(keyText, 'base64');
  if (key.length === 0) return null;
  return { file, line, marker, hosts, keyType, key };
}

/** Whether a known_hosts host field matches `name` (already in `[host]:port` form if needed). */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , saltText, hashText] = field.split('|');
    if (saltText === undefined || hashText === undefined) return false;
    const expected = Buffer.from(hashText, 'base64');
    const actual = createHmac('sha1', Buffer.from(saltText, 'base64'))
      .update(lowerHostName(name))
      .digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  let matched = false;
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!');
    const body = negated ? pattern.slice(1) : pattern;
    if (wildcardMatches(lowerHostName(body), lowerHostName(name))) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The key type named inside an SSH public key blob (its first string). */
export function blobKeyType(blob: Buffer): string {
  if (blob.length < 4) return '';
  const length = blob.readUInt32BE(0);
  if (length > blob.length - 4 || length > 64) return '';
  return blob.toString('latin1', 4, 4 + length);
}

/** Checks a host key against entries, in OpenSSH's order: revoked, then match, then changed. */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  names: readonly string[],
  blob: Buffer,
): HostKeyVerdict {
  const type = blobKeyType(blob);
  const relevant = entries.filter((e) => names.some((n) => hostFieldMatches(e.hosts, n)));
  for (const entry of entries) {
    if (entry.marker === 'revoked' && entry.key.equals(blob)) return { status: 'revoked', entry };
  }
  const plain = relevant.filter((e) => e.marker === null);
  if (plain.some((e) => e.keyType === type && e.key.equals(blob))) return { status: 'known' };
  const offending = plain.find((e) => e.keyType === type);
  if (offending !== undefined) return { status: 'changed', offending };
  return { status: 'unknown', knownTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/**
 * Appends a key the way `StrictHostKeyChecking=accept-new` does (hashed if asked), under the
 * lower-case name as OpenSSH records it.
 */
export function recordHostKey(file: string, name: string, blob: Buffer, hashed: boolean): void {
  let host = lowerHostName(name);
  if (hashed) {
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update(host).digest();
    host = `|1|${salt.toString('base64')}|${hash.toString('base64')}`;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const existing = readFileSync(file);
    if (existing.length > 0 && existing[existing.length - 1] !== 0x0a) prefix = '\n';
  } catch {
    // A new file.
  }
  appendFileSync(file, `${prefix}${host} ${blobKeyType(blob)} ${blob.toString('base64')}\n`, {
    mode: 0o600,
  });
}

/** `SHA256:…` as ssh-keygen -l prints it. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** OpenSSH's short name for a key type in messages: ED25519, ECDSA, RSA. */
export function keyTypeLabel(type: string): string {
  if (type === 'ssh-ed25519') return 'ED25519';
  if (type.startsWith('ecdsa-')) return 'ECDSA';
  if (type === 'ssh-rsa') return 'RSA';
  if (type === 'ssh-dss') return 'DSA';
  return type;
}

/**
 * ssh2's server host key algorithms with the types already known for this host first, so a host
 * that offers several keys is checked against the one we know (as OpenSSH orders them).
 */
export function preferredHostKeyAlgorithms(knownTypes: readonly string[]): string[] {
  const all = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  const known = (alg: string) => knownTypes.includes(alg.startsWith('rsa-sha2-') ? 'ssh-rsa' : alg);
  return [...all.filter(known), ...all.filter((alg) => !known(alg))];
}
