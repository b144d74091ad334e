export { Agent, type AgentOptions, type CycleReport, fileSink } from './agent.ts';
export { type Clock, systemClock } from './clock.ts';
export {
  type CollectedRecord,
  Collector,
  type CycleResult,
  type Tier,
  type TierConfig,
} from './collector.ts';
export { type AgentConfig, checkAgentConfig, checkLocalPaths, resolveConfig } from './config.ts';
export { main } from './main.ts';
export { type ProcSource, procfsSource } from './proc-source.ts';
export { createTrpcPushClient, type PushClient, type PushOutcome } from './push.ts';
export { MAX_PENDING, type QueueState, Sender, type SenderStats } from './sender.ts';
export { buildSnapshots, DEFAULT_MAX_BODY_BYTES } from './snapshot.ts';
export { DiskSpool, MemorySpool, type Spool, SpoolBusyError } from './spool.ts';
