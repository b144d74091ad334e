/**
 * The V8 flags the agent runs with in production (the bundle's #! line, the systemd unit,
 * bench:agent). A 1 MB young generation and --lite-mode (no optimising compilers, feedback
 * allocated lazily) take about 20 MB off its resident set; the cheap tier's CPU stays within its
 * budget (docs/agent.md). --lite-mode rules out WebAssembly, which the agent does not use.
 */
export const PRODUCTION_FLAGS = ['--max-semi-space-size=1', '--lite-mode'] as const;
