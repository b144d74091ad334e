import { readFileSync } from 'node:fs';
import {
  AGENT_ENVIRONMENT,
  unknownVariableMessage,
  unknownVariables,
} from '@fleetpmap/protocol/environment';
import { Command, Option } from 'commander';
import { pino } from 'pino';
import { Agent, fileSink } from './agent.ts';
import { systemClock } from './clock.ts';
import {
  type AgentConfig,
  ConfigError,
  checkLocalPaths,
  type FlagValues,
  resolveConfig,
} from './config.ts';
import { type EnrollResult, enrollHost } from './enroll.ts';
import { warnWithoutPtrace } from './privileges.ts';
import { procfsSource } from './proc-source.ts';
import { logSpoolDrops, Sender } from './sender.ts';
import {
  DeferredDiskSpool,
  DiskSpool,
  type ForeignLockEvent,
  identifySpoolHost,
  MEMORY_QUEUE_MAX_BYTES,
  MemorySpool,
  type Spool,
  SpoolBusyError,
} from './spool.ts';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function agentProgram(): Command {
  return new Command('fleetpmap-agent')
    .description('Collects per-process memory from /proc and pushes snapshots to fleetpmap-server')
    .version(version, '-V, --version')
    .option('--config <file>', 'JSON config file (FLEETPMAP_AGENT_CONFIG)')
    .option('--server <url>', 'server base URL (FLEETPMAP_SERVER)')
    .option(
      '--token-file <file>',
      'file holding the agent token (FLEETPMAP_TOKEN_FILE; or FLEETPMAP_TOKEN)',
    )
    .option(
      '--enroll-token-file <file>',
      'fleet enroll token: when the token file does not exist yet, get this host its own agent ' +
        'token and save it there (FLEETPMAP_ENROLL_TOKEN_FILE)',
    )
    .option('--once', 'collect one cycle, deliver it, and exit')
    .option(
      '--output <file>',
      "write snapshots as JSON lines to FILE ('-' = stdout) instead of pushing",
    )
    .option('--full', 'read the full smaps of every process on the first cycle')
    .option('--stats', 'print one line of the agent’s own cost per cycle on stderr')
    .option('--proc-root <dir>', 'proc file system to read (FLEETPMAP_PROC_ROOT; default /proc)')
    .option(
      '--host-name <name>',
      'host name in the fleet (FLEETPMAP_HOST_NAME; default: os.hostname())',
    )
    .option('--label <k=v>', 'host label, repeatable', collect)
    .option('--cheap-interval <duration>', 'stat+status of every process (default 30s)')
    .option('--rollup-interval <duration>', 'smaps_rollup of every process (default 5m)')
    .option('--full-interval <duration>', 'full smaps of every process (default 15m)')
    .option('--growth-trigger-kb <kb>', 'anon growth that triggers a rollup at once (default 1024)')
    .option('--read-budget <duration>', 'slower expensive reads back a process off (default 200ms)')
    .option('--cycle-budget <duration>', 'expensive reads stop after this per cycle (default 5s)')
    .option('--max-rss-kb <kb>', 'bigger processes are read less often')
    .option('--max-mappings <n>', 'processes with more mappings are read less often')
    .option('--spool-dir <dir>', 'where undelivered snapshots wait (FLEETPMAP_SPOOL_DIR)')
    .option('--spool-max-bytes <size>', 'spool size cap, e.g. 256M (default 256M)')
    .option('--retry-max-delay <duration>', 'longest wait between push retries (default 5m)')
    .option('--max-body-bytes <size>', 'split snapshots above this JSON size')
    .addOption(
      new Option(
        '--log-level <level>',
        'pino log level (FLEETPMAP_LOG_LEVEL; default info)',
      ).choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    );
}

/**
 * The spool directory, locked for this process. One that cannot be written (read-only, no
 * permission, not a directory) leaves the queue in memory; one that another agent uses is fatal
 * (SpoolBusyError): two agents would deliver each other's files. The lock of an agent in another
 * pid namespace or on another host is waited for until its heartbeat stops; undefined when the
 * agent is stopped meanwhile.
 */
async function openSpool(
  cfg: AgentConfig,
  log: pino.Logger,
  signal: AbortSignal,
): Promise<Spool | undefined> {
  identifySpoolHost(cfg.hostName);
  const inMemory = Math.min(cfg.spoolMaxBytes, MEMORY_QUEUE_MAX_BYTES);
  const onForeignLock = (e: ForeignLockEvent) => {
    const fields = { dir: cfg.spoolDir, lock: e.lock, owner: e.elsewhere, pid: e.pid };
    if (e.kind === 'waiting') {
      log.warn(
        { ...fields, waitS: e.staleMs / 1000 },
        'spool directory locked by a fleetpmap-agent of another pid namespace or host; waiting ' +
          'up to waitS seconds for its lock to be let go, or to go that long unrefreshed (then ' +
          'its agent is gone and the lock is taken over)',
      );
    } else {
      log.warn(
        { ...fields, staleS: e.staleMs / 1000 },
        'took over the spool lock of a fleetpmap-agent of another pid namespace or host: ' +
          'unrefreshed for staleS seconds, its agent is gone',
      );
    }
  };
  if (cfg.spoolDir) {
    try {
      const spool = await DiskSpool.open(cfg.spoolDir, cfg.spoolMaxBytes, {
        signal,
        onForeignLock,
      });
      // Dropped to make room for the lock on a full disk: told as a write's drops are.
      logSpoolDrops(log, spool, spool.droppedAtOpen);
      if (spool.count > 0) {
        log.info(
          { dir: cfg.spoolDir, count: spool.count, bytes: spool.totalBytes },
          'replaying spool',
        );
      }
      return spool;
    } catch (err) {
      if (err instanceof SpoolBusyError) throw err;
      if (signal.aborted) return undefined;
      log.warn(
        { dir: cfg.spoolDir, err: (err as Error).message, maxBytes: inMemory },
        'spool directory unusable; undelivered snapshots are kept in memory (bounded) and the ' +
          'directory is tried again every cycle; they are lost if the agent stops before either ' +
          'takes them',
      );
      // A full disk gets room, a read-only mount is made writable: the directory, and what a
      // previous run left in it, is taken up then.
      return new DeferredDiskSpool(cfg.spoolDir, cfg.spoolMaxBytes, {
        monoMs: () => systemClock.monoMs(),
        retryMs: cfg.cheapIntervalMs,
        lock: { onForeignLock },
      });
    }
  }
  return new MemorySpool(inMemory);
}

/** Commander's own exits: help and version are 0, every usage error is a bad config (2). */
function usageExitCode(err: unknown): number {
  const code = (err as { exitCode?: number }).exitCode;
  return code === 0 ? 0 : 2;
}

/** Runs the agent; resolves to the process exit code. Only `runAsProcess` calls process.exit. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = agentProgram();
  program.exitOverride();
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    return usageExitCode(err);
  }
  let cfg: AgentConfig;
  const warnings: string[] = [];
  try {
    cfg = resolveConfig(program.opts<FlagValues>(), process.env, warnings);
    checkLocalPaths(cfg);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fleetpmap-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = pino(
    { name: 'fleetpmap-agent', level: cfg.logLevel, base: { host: cfg.hostName } },
    pino.destination({ fd: 2, sync: true }),
  );
  for (const w of new Set(warnings)) log.warn(w);
  // A misspelt setting would otherwise be ignored in silence.
  for (const unknown of unknownVariables(process.env, AGENT_ENVIRONMENT)) {
    log.warn(
      { variable: unknown.name, closest: unknown.closest },
      unknownVariableMessage(unknown, 'the agent’s other settings are flags, or keys of --config'),
    );
  }
  const source = procfsSource({ procRoot: cfg.procRoot });
  try {
    // The host facts every snapshot carries: without them nothing can be collected at all.
    await source.readHost();
  } catch (err) {
    process.stderr.write(
      `fleetpmap-agent: invalid procRoot: ${cfg.procRoot} is not a proc file system: ` +
        `${(err as Error).message}\n`,
    );
    return 2;
  }
  warnWithoutPtrace(log, cfg.procRoot);
  let spool: Spool | undefined;
  try {
    return await runAgent(cfg, log, source, (opened) => {
      spool = opened;
    });
  } catch (err) {
    if (err instanceof SpoolBusyError) {
      process.stderr.write(`fleetpmap-agent: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    const unwritten = await spool?.close();
    if (unwritten) {
      log.error({ lost: unwritten }, 'snapshots that could not be written to the spool are lost');
    }
  }
}

async function runAgent(
  cfg: AgentConfig,
  log: pino.Logger,
  source: ReturnType<typeof procfsSource>,
  opened: (spool: Spool) => void,
): Promise<number> {
  const clock = systemClock;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let sender: Sender | undefined;
  /** set when this host has no agent token yet but may enroll for one */
  let enroll: ((deadlineMono?: number) => Promise<EnrollResult>) | undefined;
  if (cfg.output === undefined && cfg.server !== undefined) {
    // Loaded only to push: an `--output` run never pays for the tRPC client and the HTTP stack.
    const { createTrpcPushClient } = await import('./push.ts');
    const client = createTrpcPushClient({
      server: cfg.server,
      ...(cfg.token !== undefined ? { token: cfg.token } : {}),
      userAgent: `fleetpmap-agent/${version}`,
    });
    const spool = await openSpool(cfg, log, stop.signal);
    if (!spool) {
      log.info({ dir: cfg.spoolDir }, 'stopped while waiting for the spool directory');
      return 0;
    }
    opened(spool);
    sender = new Sender({
      client,
      spool,
      clock,
      log,
      hostName: cfg.hostName,
      maxDelayMs: cfg.retryMaxDelayMs,
      onAcknowledged: (snapshotId, duplicate) =>
        log.info({ snapshotId, duplicate }, 'acknowledged'),
    });
    const { enrollToken, tokenFile } = cfg;
    if (cfg.token === undefined && enrollToken !== undefined && tokenFile !== undefined) {
      sender.hold(true);
      enroll = (deadlineMono) =>
        enrollHost({
          client,
          hostName: cfg.hostName,
          enrollToken,
          tokenFile,
          clock,
          log,
          maxDelayMs: cfg.retryMaxDelayMs,
          signal: stop.signal,
          ...(deadlineMono !== undefined ? { deadlineMono } : {}),
        });
    }
  }
  const agent = new Agent({
    source,
    clock,
    log,
    tiers: cfg,
    hostName: cfg.hostName,
    labels: cfg.labels,
    version,
    cheapIntervalMs: cfg.cheapIntervalMs,
    ...(sender ? { sender } : {}),
    ...(cfg.output !== undefined ? { sink: fileSink(cfg.output) } : {}),
    ...(cfg.maxBodyBytes !== undefined ? { maxBodyBytes: cfg.maxBodyBytes } : {}),
    stats: cfg.stats,
    fullFirst: cfg.full,
  });

  if (cfg.once) {
    await agent.runCycle({ forceFull: cfg.full });
    if (!sender) return 0;
    if (enroll) {
      // The cycle waits in the spool for a run that can deliver it.
      if ((await enroll(clock.monoMs() + 60_000)) !== 'enrolled') return 1;
      sender.hold(false);
    }
    // Deliver what waits (older spool first); whatever cannot go now stays in the spool.
    const delivered = await sender.drain(clock.monoMs() + 60_000, stop.signal);
    if (!delivered) {
      log.warn({ left: sender.backlog, err: sender.lastFailure }, 'not all snapshots delivered');
      return 1;
    }
    return sender.stats.rejected > 0 ? 1 : 0;
  }

  log.info(
    { server: cfg.server, output: cfg.output, procRoot: cfg.procRoot, version },
    'fleetpmap-agent started',
  );
  let exitCode = 0;
  const delivery = (async () => {
    // Until enrolled nothing can be delivered; collection goes on into the spool meanwhile.
    if (enroll) {
      const result = await enroll();
      if (result === 'refused') {
        exitCode = 1;
        stop.abort();
      }
      if (result !== 'enrolled') return;
      sender?.hold(false);
    }
    await sender?.run(stop.signal);
  })();
  await agent.run(stop.signal);
  // A push in flight was aborted with the stop signal; its snapshot stays queued.
  await delivery;
  // Snapshots still in memory must outlive the process.
  await sender?.persistPending();
  log.info({ ...sender?.stats, spooled: sender?.spool.count }, 'fleetpmap-agent stopped');
  return exitCode;
}

let started = false;

/**
 * Runs the agent as this process: `main` on the command line, its result the exit code. The bin
 * calls it, and so does this module when it is the one Node was started with. A bundle of the
 * bin is such a module too, and calls it twice: only the first call runs.
 */
export function runAsProcess(): void {
  if (started) return;
  started = true;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`fleetpmap-agent: internal error: ${err?.stack ?? err}\n`);
      process.exit(70);
    },
  );
}

if (import.meta.main) runAsProcess();
