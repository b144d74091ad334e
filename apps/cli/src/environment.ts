import {
  CLI_ENVIRONMENT,
  type EnvironmentView,
  environmentView,
} from '@fleetpmap/protocol/environment';

/** Every FLEETPMAP_ variable the CLI reads: through `cliEnvironment` it can read no other. */
export { CLI_ENVIRONMENT };

export type CliEnvironment = EnvironmentView<(typeof CLI_ENVIRONMENT)[number]>;

/** The CLI's variables of `env`, and no others. */
export function cliEnvironment(env: Readonly<Record<string, string | undefined>>): CliEnvironment {
  return environmentView(CLI_ENVIRONMENT, env);
}
