import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { FleetCommandError } from './errors.ts';
import { withHostOptions } from './options.ts';
import { createToken } from './token.ts';

/** `--host` as top, ps and report run parse it; the error commander would print. */
function parseHost(glob: string): { host?: string; error?: string } {
  let error: string | undefined;
  const command = withHostOptions(new Command('top'))
    .exitOverride()
    .configureOutput({ writeErr: (text) => (error = text), writeOut: () => {} });
  try {
    command.parse(['--host', glob], { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    return { error };
  }
  return { host: command.opts<{ host?: string }>().host };
}

describe('--host GLOB', () => {
  it('takes sets, ranges and braces', () => {
    for (const glob of ['web-00[12]', 'web-00[!3]', 'web-0[0-9]*', 'web-00{1,2}', '{web,db}-*']) {
      expect(parseHost(glob)).toEqual({ host: glob });
    }
  });

  it('refuses a malformed glob, saying why, before asking the server', () => {
    expect(parseHost('web-00[12').error).toMatch(
      /option '--host <glob>' argument 'web-00\[12' is invalid\. not a host glob: "\[" at character 7 is never closed by "\]"/,
    );
    expect(parseHost('web-00{1,2').error).toMatch(/"\{" at character 7 is never closed by "\}"/);
    expect(parseHost('web-1,web-2').error).toMatch(/alternatives are written \{a,b\}/);
  });

  it("refuses a malformed enroll token's host glob too", () => {
    // Nothing listens there: the glob is refused before any request.
    const connection = { server: 'http://127.0.0.1:1', token: 't', timeoutMs: 1_000 };
    const created = () => createToken(connection, { role: 'enroll', host: 'web-[0-9' });
    expect(created).toThrow(FleetCommandError);
    expect(created).toThrow(
      '--host "web-[0-9": not a host glob: "[" at character 5 is never closed by "]"',
    );
  });
});
