import { describe, expect, it } from 'vitest';
import { ProcfsParseError } from './errors.ts';
import { parseStatus, readStatus } from './status.ts';
import { FIXTURE_PROC, fixturePid, thrown } from './test-support.ts';

describe('parseStatus', () => {
  it('reads the memory counters of a captured process', async () => {
    const pid = fixturePid('we) ir\td');
    const st = await readStatus(pid, FIXTURE_PROC);
    expect(st).toMatchObject({ tgid: pid, pid, threads: 4, hasMm: true, uids: [0, 0, 0, 0] });
    expect(st.name).toBe('we) ir\td');
    expect(st.vmRssKb).toBe(st.rssAnonKb + st.rssFileKb + st.rssShmemKb);
    expect(st.vmSizeKb).toBeGreaterThan(st.vmRssKb);
    expect(st.vmHwmKb).toBeGreaterThanOrEqual(st.vmRssKb);
    expect(st.rssShmemKb).toBeGreaterThan(0);
    expect(st.fields.Cpus_allowed_list).toBeDefined();
  });

  it('gives zero memory for a kernel thread', async () => {
    const st = await readStatus(2, FIXTURE_PROC);
    expect(st).toMatchObject({ pid: 2, hasMm: false, vmSizeKb: 0, vmRssKb: 0, vmSwapKb: 0 });
  });

  it('reads the live status of this process', async () => {
    const st = await readStatus('self');
    expect(st.pid).toBe(process.pid);
    expect(st.vmRssKb).toBeGreaterThan(1000);
  });

  it('rejects malformed lines and values with a typed error', () => {
    const good = 'Name:\tx\nTgid:\t5\nPid:\t5\nPPid:\t1\nUid:\t0\t0\t0\t0\n';
    expect(parseStatus(good, 's').pid).toBe(5);
    for (const bad of [
      `${good}no colon here\n`,
      good.replace('Pid:\t5', 'Pid:\tx'),
      good.replace('Uid:\t0\t0\t0\t0', 'Uid:\t0'),
      `${good}VmRSS:\t12 MB\n`,
      'Name:\tx\n',
    ]) {
      expect(thrown(() => parseStatus(bad, 's'))).toBeInstanceOf(ProcfsParseError);
    }
  });
});
