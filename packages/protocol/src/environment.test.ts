import { describe, expect, it } from 'vitest';
import {
  AGENT_ENVIRONMENT,
  CLI_ENVIRONMENT,
  closestKnownVariable,
  environmentView,
  KNOWN_ENVIRONMENT,
  SERVER_ENVIRONMENT,
  TOOLING_ENVIRONMENT,
  unknownVariableMessage,
  unknownVariables,
} from './environment.ts';

describe('the FLEETPMAP_ variables', () => {
  it('are all known: every program’s and the tools’, each once', () => {
    for (const list of [
      SERVER_ENVIRONMENT,
      AGENT_ENVIRONMENT,
      CLI_ENVIRONMENT,
      TOOLING_ENVIRONMENT,
    ]) {
      expect(new Set(list).size).toBe(list.length);
      for (const name of list) {
        expect(name).toMatch(/^FLEETPMAP_[A-Z0-9_]*[A-Z0-9]$/);
        expect(KNOWN_ENVIRONMENT).toContain(name);
      }
    }
  });

  it('name the closest known one for a misspelt one', () => {
    expect(closestKnownVariable('FLEETPMAP_RETENTION_SAMPLES_DAY')).toBe(
      'FLEETPMAP_RETENTION_SAMPLES_DAYS',
    );
    expect(closestKnownVariable('FLEETPMAP_MAX_CONNECTIONS_PER_ADDR')).toBe(
      'FLEETPMAP_MAX_CONNECTIONS_PER_ADDRESS',
    );
    expect(closestKnownVariable('FLEETPMAP_TOKENFILE')).toBe('FLEETPMAP_TOKEN_FILE');
    expect(closestKnownVariable('FLEETPMAP_SPOOL_DIRECTORY', AGENT_ENVIRONMENT)).toBe(
      'FLEETPMAP_SPOOL_DIR',
    );
  });

  it('suggest nothing that is merely the least far off, nor another program’s name', () => {
    // Following such a hint would silence the warning and still set nothing.
    for (const name of [
      'FLEETPMAP_CHEAP_INTERVAL',
      'FLEETPMAP_SPOOL_MAX_BYTES',
      'FLEETPMAP_RETRY_MAX_DELAY',
      'FLEETPMAP_LABELS',
      'FLEETPMAP_XYZZY_FOO_BAR',
    ]) {
      expect(closestKnownVariable(name, AGENT_ENVIRONMENT), name).toBeUndefined();
    }
    expect(closestKnownVariable('FLEETPMAP_LISTEN_ADDR', AGENT_ENVIRONMENT)).toBeUndefined();
    expect(closestKnownVariable('FLEETPMAP_LISTEN_ADDR', SERVER_ENVIRONMENT)).toBe(
      'FLEETPMAP_LISTEN',
    );
    expect(
      unknownVariableMessage(
        { name: 'FLEETPMAP_CHEAP_INTERVAL', closest: undefined },
        'the agent takes its other settings as flags or in --config',
      ),
    ).toBe(
      'FLEETPMAP_CHEAP_INTERVAL is set but no fleetpmap program reads it, so it has no effect' +
        ' (the agent takes its other settings as flags or in --config)',
    );
  });

  it('that no program reads are found in an environment; others’ and non-FLEETPMAP_ ones are not', () => {
    const unknown = unknownVariables({
      PATH: '/usr/bin',
      FLEETPMAP_RETENTION_SAMPLES_DAY: '3',
      FLEETPMAP_TOKEN_FILE: '/x',
      FLEETPMAP_TEST_DATABASE_URL: 'postgres://db/x',
      FLEETPMAP_LISTEN: '0.0.0.0:4680',
    });
    expect(unknown).toEqual([
      { name: 'FLEETPMAP_RETENTION_SAMPLES_DAY', closest: 'FLEETPMAP_RETENTION_SAMPLES_DAYS' },
    ]);
    expect(unknownVariableMessage(unknown[0] as (typeof unknown)[number])).toMatch(
      /^FLEETPMAP_RETENTION_SAMPLES_DAY .* did you mean FLEETPMAP_RETENTION_SAMPLES_DAYS\?$/,
    );
  });

  it('are read by a loader only through its list', () => {
    const view = environmentView(CLI_ENVIRONMENT, {
      FLEETPMAP_SERVER: 'http://s',
      FLEETPMAP_X: '1',
    });
    expect(view.FLEETPMAP_SERVER).toBe('http://s');
    expect(view.FLEETPMAP_TOKEN).toBeUndefined();
    // @ts-expect-error: not on the CLI's list
    expect(() => view.FLEETPMAP_LISTEN).toThrow(/FLEETPMAP_LISTEN is not on/);
  });
});
