import { describe, expect, it } from 'vitest';
import { isRemoteTargetArg, parseRemoteTarget, TargetError } from './target.ts';

describe('parseRemoteTarget', () => {
  it('accepts the target forms a user types', () => {
    expect(parseRemoteTarget('web-07:4121')).toMatchObject({
      host: 'web-07',
      pid: 4121,
      comm: null,
    });
    expect(parseRemoteTarget('ops@db-1.example.com:90')).toMatchObject({
      host: 'db-1.example.com',
      user: 'ops',
      pid: 90,
    });
    expect(parseRemoteTarget('[fe80::1%eth0]:7')).toMatchObject({ host: 'fe80::1%eth0', pid: 7 });
    expect(parseRemoteTarget('web-07:comm=nginx')).toMatchObject({ pid: null, comm: 'nginx' });
    expect(parseRemoteTarget('h:comm=kworker/0:1')).toMatchObject({ comm: 'kworker/0:1' });
    expect(parseRemoteTarget('h:comm=(sd-pam)')).toMatchObject({ comm: '(sd-pam)' });
  });

  it.each([
    ['h:1;id', 'process ID'],
    ['h:$(id)', 'process ID'],
    ['h:0x10', 'process ID'],
    ['h:0', 'out of range'],
    ['h:2147483648', 'out of range'],
    ['h: 12', 'process ID'],
    ['-oProxyCommand=sh:1', 'host name'],
    ['h;id:1', 'host name'],
    ['h$(id):1', 'host name'],
    ['h`id`:1', 'host name'],
    ['a b:1', 'host name'],
    ['h\n:1', 'host name'],
    ['1:2', 'digits alone'],
    ['0:1', 'digits alone'],
    ['10.1:2', 'digits alone'],
    ['10.0.0.256:1', 'digits alone'],
    ['-x@h:1', 'user name'],
    ['u;id@h:1', 'user name'],
    ['h:comm=$(id)', 'shell or pattern'],
    ['h:comm=a;b', 'shell or pattern'],
    ['h:comm=`id`', 'shell or pattern'],
    ['h:comm=nginx*', 'shell or pattern'],
    ['h:comm=a\nb', 'control character'],
    ['h:comm=', 'empty command name'],
    ['h:comm=sixteen-bytes-xx', 'too long'],
  ])('refuses %j', (arg, why) => {
    expect(() => parseRemoteTarget(arg)).toThrow(TargetError);
    expect(() => parseRemoteTarget(arg)).toThrow(why);
  });

  it('never mistakes a local PID form for a remote target', () => {
    for (const arg of ['123', '0x7b', '0173', '/proc/123', '/proc/self', '-x', '--range=1:2']) {
      expect(isRemoteTargetArg(arg)).toBe(false);
    }
    expect(isRemoteTargetArg('web-07:4121')).toBe(true);
  });

  it('takes an IPv4 address or a name with a letter, -, or _ as a host, never digits alone', () => {
    for (const arg of ['1:2', '0:1', 'root@1:2', '10.1:2', '1.2.3.4.5:6', '10.0.0.256:1']) {
      expect(isRemoteTargetArg(arg)).toBe(false);
    }
    for (const arg of [
      '127.0.0.1:1',
      'root@10.0.0.5:1',
      '0.0.0.0:1',
      '[::1]:1',
      'web1:1',
      '1e100:1',
    ]) {
      expect(isRemoteTargetArg(arg)).toBe(true);
      expect(() => parseRemoteTarget(arg)).not.toThrow();
    }
  });
});
