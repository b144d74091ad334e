import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { byteStringToUtf8, parseCmdline, parseComm, readCmdline, readComm } from './cmdline.ts';
import { FIXTURE_PROC, fixturePid } from './test-support.ts';

describe('cmdline and comm', () => {
  it('splits arguments and builds the protocol one-liner', () => {
    expect(parseCmdline('sleep\x001000\x00')).toEqual({
      raw: 'sleep\x001000\x00',
      args: ['sleep', '1000'],
      text: 'sleep 1000',
    });
    expect(parseCmdline('a b\x00\x00c\x00\x00')).toMatchObject({
      args: ['a b', '', 'c', ''],
      text: 'a b  c ',
    });
    // A process that overwrote its argv has no final NUL.
    expect(parseCmdline('nginx: worker process').text).toBe('nginx: worker process');
    expect(parseCmdline('')).toEqual({ raw: '', args: [], text: '' });
  });

  it('keeps non-UTF-8 bytes until the output boundary', () => {
    const c = parseCmdline('x\xff\xe2\x82\x00');
    expect(c.args).toEqual(['x\xff\xe2\x82']);
    expect(byteStringToUtf8('caf\xc3\xa9')).toBe('café');
    expect(byteStringToUtf8(c.text)).toBe('x\ufffd\ufffd');
  });

  it('reads captured and live files', async () => {
    const pid = fixturePid('sleep');
    expect((await readCmdline(pid, FIXTURE_PROC)).text).toBe('sleep 1000');
    expect((await readCmdline(2, FIXTURE_PROC)).text).toBe('');
    expect(await readComm(2, FIXTURE_PROC)).toBe('kthreadd');
    expect(parseComm('we) ir\td\n')).toBe('we) ir\td');
    const child = spawn('sh', ['-c', 'sleep 30; :', 'a b', '', 'c\xff'], { stdio: 'ignore' });
    try {
      // Until exec completes the child is a copy of this process with its cmdline.
      let c = await readCmdline(child.pid ?? 0);
      for (let i = 0; i < 250 && c.args[0] !== 'sh'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        c = await readCmdline(child.pid ?? 0);
      }
      expect(c.args).toEqual(['sh', '-c', 'sleep 30; :', 'a b', '', 'c\xc3\xbf']);
      expect(byteStringToUtf8(c.text)).toBe('sh -c sleep 30; : a b  c\xff');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
