import { describe, expect, it } from 'vitest';
import { parseCgroup, readCgroup } from './cgroup.ts';
import { ProcfsParseError } from './errors.ts';
import { FIXTURE_PROC, fixturePid, thrown } from './test-support.ts';

describe('parseCgroup', () => {
  it('finds the unified path among v1 lines', async () => {
    const cg = await readCgroup(fixturePid('sleep'), FIXTURE_PROC);
    expect(cg.unified).toMatch(/^\//);
    expect(cg.lines.at(-1)).toMatchObject({ hierarchyId: 0, controllers: '' });
    const text = '4:memory:/a/b\n0::/system.slice/nginx.service\n';
    expect(parseCgroup(text, 'cg')).toEqual({
      unified: '/system.slice/nginx.service',
      lines: [
        { hierarchyId: 4, controllers: 'memory', path: '/a/b' },
        { hierarchyId: 0, controllers: '', path: '/system.slice/nginx.service' },
      ],
    });
    expect(parseCgroup('1:cpu:/x\n', 'cg').unified).toBeNull();
  });

  it('rejects malformed lines', () => {
    for (const bad of ['x::/\n', '0:/\n', '\n']) {
      expect(thrown(() => parseCgroup(bad, 'cg'))).toBeInstanceOf(ProcfsParseError);
    }
  });
});
