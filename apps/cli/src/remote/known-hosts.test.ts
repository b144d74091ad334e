import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprint,
  hostFieldMatches,
  knownHostsName,
  loadKnownHosts,
  recordHostKey,
} from './known-hosts.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-known-hosts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keyPair(name: string): { line: string; blob: Buffer } {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  const [type = '', base64 = ''] = readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  return { line: `${type} ${base64}`, blob: Buffer.from(base64, 'base64') };
}

let haveKeygen = true;
try {
  execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
} catch (error) {
  haveKeygen = (error as NodeJS.ErrnoException).code !== 'ENOENT';
}
if (!haveKeygen && process.env.CI === 'true') throw new Error('CI needs ssh-keygen');
if (!haveKeygen) console.log('skipping known_hosts tests: ssh-keygen is not installed');

describe.skipIf(!haveKeygen)('known_hosts', () => {
  it('matches entries that ssh-keygen -H hashed, with and without a port', () => {
    const a = keyPair('a');
    const file = join(dir, 'hashed');
    writeFileSync(file, `web-07 ${a.line}\n[web-07]:2222 ${a.line}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    const entries = loadKnownHosts([file]);
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(checkHostKey(entries, [knownHostsName('web-07', 22)], a.blob).status).toBe('known');
    expect(checkHostKey(entries, [knownHostsName('web-07', 2222)], a.blob).status).toBe('known');
    expect(checkHostKey(entries, [knownHostsName('web-08', 22)], a.blob).status).toBe('unknown');
    expect(checkHostKey(entries, [knownHostsName('web-07', 2200)], a.blob).status).toBe('unknown');
  });

  it('tells a changed key from an unknown one, and honours @revoked', () => {
    const a = keyPair('b');
    const b = keyPair('c');
    const file = join(dir, 'plain');
    writeFileSync(file, `# fleet\nweb-*,!web-99 ${a.line}\n@revoked * ${b.line}\n`);
    const entries = loadKnownHosts([file, join(dir, 'missing')]);
    expect(checkHostKey(entries, ['web-07'], a.blob).status).toBe('known');
    const changed = checkHostKey(entries, ['web-07'], keyPair('d').blob);
    expect(changed).toMatchObject({ status: 'changed', offending: { file, line: 2 } });
    expect(checkHostKey(entries, ['web-99'], a.blob).status).toBe('unknown');
    expect(checkHostKey(entries, ['web-07'], b.blob).status).toBe('revoked');
  });

  it('records keys that OpenSSH then finds (ssh-keygen -F), hashed or plain', () => {
    const a = keyPair('e');
    const file = join(dir, 'recorded');
    recordHostKey(file, '[10.0.0.5]:2222', a.blob, true);
    recordHostKey(file, 'db-1', a.blob, false);
    const found = execFileSync('ssh-keygen', ['-F', '[10.0.0.5]:2222', '-f', file]).toString();
    expect(found).toContain('ssh-ed25519');
    expect(execFileSync('ssh-keygen', ['-F', 'db-1', '-f', file]).toString()).toContain(a.line);
    const fp = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'e.pub')]).toString();
    expect(fp).toContain(fingerprint(a.blob));
  });

  it('looks names up and records them in lower case, as OpenSSH does, hashed entries too', () => {
    const a = keyPair('f');
    const file = join(dir, 'cased');
    writeFileSync(file, `[localhost]:2299 ${a.line}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
    const entries = loadKnownHosts([file]);
    const other = keyPair('g').blob;
    for (const host of ['localhost', 'LocalHost', 'LOCALHOST']) {
      expect(checkHostKey(entries, [knownHostsName(host, 2299)], a.blob).status).toBe('known');
      expect(checkHostKey(entries, [knownHostsName(host, 2299)], other).status).toBe('changed');
    }
    const recorded = join(dir, 'recorded-cased');
    recordHostKey(recorded, knownHostsName('Web-07', 2222), a.blob, true);
    recordHostKey(recorded, knownHostsName('DB-1', 22), a.blob, false);
    const found = execFileSync('ssh-keygen', ['-F', '[web-07]:2222', '-f', recorded]).toString();
    expect(found).toContain('ssh-ed25519');
    expect(readFileSync(recorded, 'utf8')).toContain(`\ndb-1 ${a.line}\n`);
  });

  it('matches patterns case-insensitively with * and ?', () => {
    expect(hostFieldMatches('*.example.com', 'Web.Example.com')).toBe(true);
    expect(hostFieldMatches('web-0?', 'web-07')).toBe(true);
    expect(hostFieldMatches('web-0?', 'web-070')).toBe(false);
    expect(hostFieldMatches('a,b,c', 'b')).toBe(true);
  });
});

describe('known_hosts host patterns', () => {
  it('take [host]:port as a name, as OpenSSH does, not as a set of characters', () => {
    const port = knownHostsName('web-07', 2222);
    expect(hostFieldMatches('[web-07]:2222', port)).toBe(true);
    expect(hostFieldMatches('[web-07]:2222', 'w:2222')).toBe(false);
    expect(hostFieldMatches('[web-07]:2222', knownHostsName('web-07', 22))).toBe(false);
    expect(hostFieldMatches('[web-0?]:2222,!web-99', port)).toBe(true);
    expect(hostFieldMatches('[*]:2222,![web-07]:2222', port)).toBe(false);
    // Only `*`, `?` and `!`: brackets, braces and an unclosed `[` are the name itself.
    expect(hostFieldMatches('web-0[78]', 'web-07')).toBe(false);
    expect(hostFieldMatches('web-0{7,8}', 'web-07')).toBe(false);
    expect(hostFieldMatches('[web-07', '[web-07')).toBe(true);
  });
});
