import { appendFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { RunSpec } from './cases.ts';
import type { Outcome } from './driver.ts';

/** `cat -A` notation: `$` ends a line, `^I` is a tab, `M-` marks bytes >= 0x80. */
export function catA(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) {
    let b = byte;
    if (b >= 0x80) {
      out += 'M-';
      b -= 0x80;
    }
    if (b === 0x0a && byte === 0x0a) out += '$\n';
    else if (b < 0x20) out += `^${String.fromCharCode(b + 0x40)}`;
    else if (b === 0x7f) out += '^?';
    else out += String.fromCharCode(b);
  }
  return out;
}

/** One readable text per outcome, so a mismatch shows as one unified diff. */
export function render(outcome: Outcome): string {
  const parts = [
    `exit: ${outcome.rc ?? `signal ${outcome.signal}`}`,
    '--- stderr',
    catA(outcome.stderr),
    '--- stdout',
    catA(outcome.stdout),
  ];
  for (const [path, content] of Object.entries(outcome.files)) {
    parts.push(`--- file ${path}`, content === null ? '(missing)' : catA(content));
  }
  return parts.join('\n');
}

function firstDifference(actual: string, expected: string): string {
  const a = actual.split('\n');
  const e = expected.split('\n');
  for (let i = 0; i < Math.max(a.length, e.length); i++) {
    if (a[i] !== e[i]) {
      return `line ${i + 1}: expected ${JSON.stringify(e[i] ?? '(end)')} got ${JSON.stringify(a[i] ?? '(end)')}`;
    }
  }
  return 'identical';
}

/**
 * Asserts byte equality of stdout, stderr, exit code and collected files. When
 * FLEETPMAP_CONFORMANCE_SUMMARY names a file, every mismatch is also appended to it as one line.
 */
export function expectSameOutcome(label: string, actual: Outcome, expected: Outcome): void {
  const got = render(actual);
  const want = render(expected);
  const summary = process.env.FLEETPMAP_CONFORMANCE_SUMMARY;
  if (got !== want && summary) {
    appendFileSync(summary, `${label}\t${firstDifference(got, want)}\n`);
  }
  expect(got, label).toBe(want);
}

/** A test title: the run id and its flags (PIDs differ from run to run, so they are left out). */
export function runTitle(run: RunSpec): string {
  const flags = run.flags.length > 0 ? run.flags.join(' ') : '(no flags)';
  const extras = [
    run.targets.length === 0 ? 'no PID' : '',
    run.locale === 'C' ? 'LC_ALL=C' : '',
    run.localeVars
      ? Object.entries(run.localeVars)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ') || 'no locale variables'
      : '',
    run.asNobody ? 'as nobody' : '',
    run.stdoutToDevFull ? 'stdout /dev/full' : '',
  ].filter(Boolean);
  return `${run.id}: ${flags}${extras.length > 0 ? ` [${extras.join(', ')}]` : ''}`;
}
