import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJump, SshConfigError, type SshOptions, SshSettingsResolver } from './ssh-settings.ts';

const dir = mkdtempSync(join(tmpdir(), 'fleetpmap-ssh-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = { HOME: '/home/ana', USER: 'ana' };

function resolver(config: string, over: Partial<SshOptions> = {}): SshSettingsResolver {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, config);
  return new SshSettingsResolver(
    {
      configFile: file,
      user: undefined,
      port: undefined,
      identityFiles: [],
      acceptNewHostKeys: false,
      connectTimeoutMs: undefined,
      ...over,
    },
    env,
  );
}

describe('SshSettingsResolver', () => {
  const config = [
    'Host web-*',
    '  HostName %h.dc1.example',
    '  User deploy',
    '  IdentityFile ~/.ssh/web_%r@%h',
    '  ConnectTimeout 4',
    '  ProxyJump ops@bastion:2200',
    'Host web-99',
    '  User ignored-later-match',
    'Host *',
    '  Port 2222',
    '  User everyone',
    '  StrictHostKeyChecking no',
    '',
  ].join('\n');

  it('takes the first value of each setting, in file order, like ssh', () => {
    const s = resolver(config).resolve('web-99');
    expect(s.hostName).toBe('web-99.dc1.example');
    expect(s.user).toBe('deploy');
    expect(s.port).toBe(2222);
    expect(s.connectTimeoutMs).toBe(4000);
    expect(s.identityFiles).toEqual(['/home/ana/.ssh/web_deploy@web-99.dc1.example']);
    expect(s.proxyJump).toEqual(['ops@bastion:2200']);
    // `no` never goes further than accept-new: changed keys stay refused.
    expect(s.strictHostKeyChecking).toBe('accept-new');
  });

  it('lets the command line win: user@ over -l over User, -p and -i over the file', () => {
    const r = resolver(config, { user: 'cli', port: 22, identityFiles: ['/keys/a'] });
    expect(r.resolve('web-1').user).toBe('cli');
    expect(r.resolve('web-1', { user: 'typed' }).user).toBe('typed');
    expect(r.resolve('web-1').port).toBe(22);
    expect(r.resolve('web-1').identityFiles[0]).toBe('/keys/a');
  });

  it('does not apply -l, -p and -i to ProxyJump hops', () => {
    const r = resolver(config, { user: 'cli', port: 22, identityFiles: ['/keys/a'] });
    const hop = r.resolve('bastion', { user: 'ops', port: 2200, jump: true });
    expect(hop).toMatchObject({ user: 'ops', port: 2200, hostName: 'bastion' });
    expect(hop.identityFiles).not.toContain('/keys/a');
  });

  it('follows Include globs in place, in sorted order', () => {
    const inc = join(dir, 'inc');
    mkdirSync(inc, { recursive: true });
    writeFileSync(join(inc, 'b.conf'), 'Host db-*\n  User from-b\n  Port 2200\n');
    writeFileSync(join(inc, 'a.conf'), 'Host db-*\n  User from-a\n');
    const s = resolver(`Include ${inc}/*.conf\nHost *\n  User later\n`).resolve('db-1');
    expect(s).toMatchObject({ user: 'from-a', port: 2200 });
    expect(() => resolver(`Include ${join(dir, 'loop.conf')}\n`)).not.toThrow();
    writeFileSync(join(dir, 'loop.conf'), `Include ${join(dir, 'loop.conf')}\n`);
    expect(() => resolver(`Include ${join(dir, 'loop.conf')}\n`)).toThrow('nested too deeply');
  });

  it('falls back to OpenSSH defaults', () => {
    const s = resolver('').resolve('db-1');
    expect(s).toMatchObject({ hostName: 'db-1', user: 'ana', port: 22 });
    expect(s.strictHostKeyChecking).toBe('yes');
    expect(s.identityFiles).toContain('/home/ana/.ssh/id_ed25519');
    expect(s.userKnownHostsFiles[0]).toBe('/home/ana/.ssh/known_hosts');
  });

  it('refuses a missing -F file, a bad port and ProxyCommand', () => {
    expect(
      () =>
        new SshSettingsResolver(
          {
            configFile: join(dir, 'nope'),
            user: undefined,
            port: undefined,
            identityFiles: [],
            acceptNewHostKeys: false,
            connectTimeoutMs: undefined,
          },
          env,
        ),
    ).toThrow(SshConfigError);
    expect(() => resolver('Host *\n  Port 70000\n').resolve('x')).toThrow("Bad port '70000'");
    expect(() => resolver('Host *\n  ProxyCommand nc %h %p\n').resolve('x')).toThrow(
      'ProxyCommand is not supported',
    );
  });
});

describe('parseJump', () => {
  it('reads [user@]host[:port], IPv6 in brackets', () => {
    expect(parseJump('bastion')).toEqual({ host: 'bastion' });
    expect(parseJump('ops@bastion:2200')).toEqual({ host: 'bastion', user: 'ops', port: 2200 });
    expect(parseJump('[::1]:22')).toEqual({ host: '::1', port: 22 });
    expect(() => parseJump('a b')).toThrow(SshConfigError);
    expect(() => parseJump('-oProxyCommand=x')).toThrow(SshConfigError);
    expect(() => parseJump('-x')).toThrow(SshConfigError);
  });
});
