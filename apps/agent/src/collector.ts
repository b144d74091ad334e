import type { ProcessRecord, ReadError, SkippedProcess, Tier } from '@fleetpmap/protocol';
import type { Clock } from './clock.ts';
import type { CgroupPlace, CheapSample, Cmdline, Identity, ProcSource } from './proc-source.ts';

export type { Tier };

/** A process record as the collector makes it: the wire record plus the tier that made it. */
export type CollectedRecord = ProcessRecord & { tier: Tier };

export interface TierConfig {
  rollupIntervalMs: number;
  fullIntervalMs: number;
  growthTriggerKb: number;
  readBudgetMs: number;
  cycleBudgetMs: number;
  maxRssKb: number;
  maxMappings: number;
  maxBackoffLevel: number;
}

export interface TierCost {
  /** Processes read at this tier. */
  count: number;
  /** Wall time spent on this tier's reads, ms. */
  ms: number;
}

export interface CycleResult {
  /** Every record, in pid order; empty when the records were streamed to `onRecord`. */
  records: CollectedRecord[];
  processCount: number;
  mappingCount: number;
  skipped: SkippedProcess[];
  tiers: Record<Tier, TierCost>;
  collectMs: number;
}

type Expensive = 'rollup' | 'full';

/** The backoff of one expensive tier of one process. */
interface Guard {
  /** The tier runs at most every interval × 2^level (growth: every plain interval). */
  level: number;
  /** Why, for the skip report. */
  reason?: string;
}

/** What the collector remembers about one process incarnation between cycles. */
interface ProcState {
  startTicks: number;
  identity: Identity;
  /** stat's comm and stack start when the identity was read: an exec changes them. */
  statComm: string;
  startStack: number;
  /**
   * When the cgroup and command line were last read: a process can be moved to another cgroup,
   * and rewrite its command line (`setproctitle`), at run time.
   */
  refreshMono: number;
  lastRollupMono?: number;
  lastFullMono?: number;
  anonAtRollupKb?: number;
  anonAtFullKb?: number;
  guards: Record<Expensive, Guard>;
  /** smaps_rollup refused for want of privilege: tried again one full interval later. */
  denied?: { atMono: number; error: ReadError };
  deniedReported?: boolean;
  seenCycle: number;
}

interface Candidate {
  cheap: CheapSample;
  state: ProcState;
  record: CollectedRecord;
  want: Expensive;
  /** Lower runs first: growth before schedule, never-read before long-unread. */
  priority: number;
}

interface Decision {
  /** The tier to read this cycle, if any. */
  want?: Expensive;
  priority: number;
  /** Tiers that were due but are backed off, as skip reasons. */
  held: string[];
}

/** Errors of a read the agent is not allowed to make: trying again each cycle cannot help. */
const DENIED = new Set(['EACCES', 'EPERM']);

/** Anonymous memory as the leak ranking sees it: swapped-out anon did not stop leaking. */
function anonKb(c: CheapSample): number {
  return c.status.rssAnonKb + c.status.vmSwapKb;
}

/**
 * The tiered, cost-budgeted collection of ARCHITECTURE.md. Every cycle reads `stat` + `status` of
 * every process (tier 1). `smaps_rollup` (tier 2) and full `smaps` (tier 3) walk the target's page
 * tables under its mmap lock, so they run less often, at once for growing processes, and each
 * tier no more often than its own backoff allows for a process whose reads of that tier were slow
 * (or, for full maps, which is over the size limits). The expensive reads of a cycle stop once
 * they have taken the cycle budget; what was due but not read is reported with the reason.
 */
export class Collector {
  readonly #source: ProcSource;
  readonly #clock: Clock;
  readonly #cfg: TierConfig;
  readonly #procs = new Map<number, ProcState>();
  #cycle = 0;

  constructor(source: ProcSource, clock: Clock, cfg: TierConfig) {
    this.#source = source;
    this.#clock = clock;
    this.#cfg = cfg;
  }

  /** Number of process incarnations the collector is tracking. */
  get tracked(): number {
    return this.#procs.size;
  }

  /**
   * One collection cycle. With `onRecord`, each record is handed over as soon as it is complete
   * (cheap-only ones during the first pass, the others after their expensive read), so the
   * caller can pack and ship them without the whole cycle in memory.
   */
  async cycle(
    opts: { forceFull?: boolean; onRecord?: (r: CollectedRecord) => Promise<void> | void } = {},
  ): Promise<CycleResult> {
    const stream = opts.onRecord;
    let processCount = 0;
    let mappingCount = 0;
    const emit = async (r: CollectedRecord) => {
      processCount++;
      mappingCount += r.mappings?.length ?? 0;
      if (stream) await stream(r);
    };
    const cycle = ++this.#cycle;
    const t0 = this.#clock.monoMs();
    const tiers: Record<Tier, TierCost> = {
      cheap: { count: 0, ms: 0 },
      rollup: { count: 0, ms: 0 },
      full: { count: 0, ms: 0 },
    };
    const records: CollectedRecord[] = [];
    const skipped: SkippedProcess[] = [];
    const candidates: Candidate[] = [];
    // Thousands of processes share a few cgroups: each is read once per cycle.
    const limitOf = this.#source.memoryLimits();

    for (const pid of await this.#source.listPids()) {
      const r0 = this.#clock.monoMs();
      const cheap = await this.#source.readCheap(pid);
      if (!cheap.ok) {
        tiers.cheap.ms += this.#clock.monoMs() - r0;
        // Exited between listing and reading: nothing to report, it is simply gone.
        if (cheap.error.code !== 'ENOENT' && cheap.error.code !== 'ESRCH') {
          skipped.push({ pid, reason: `stat/status: ${cheap.error.code}` });
        }
        continue;
      }
      const c = cheap.value;
      const state = await this.#track(c, t0, cycle);
      const limitKb = state.identity.memoryCgroup && limitOf(state.identity.memoryCgroup);
      const cost = this.#clock.monoMs() - r0;
      tiers.cheap.ms += cost;
      tiers.cheap.count++;
      const record = this.#baseRecord(c, state.identity, cost);
      if (limitKb !== undefined) record.memoryLimitKb = limitKb;
      if (!stream) records.push(record);
      // Kernel threads have no address space: there is no rollup or map to read.
      const d =
        c.status.vmSizeKb === 0 ? undefined : this.#decide(c, state, opts.forceFull === true, t0);
      // Between tries, what could not be read is still said; a try says it for itself.
      if (state.denied && !d?.want) record.error ??= state.denied.error;
      for (const reason of d?.held ?? []) {
        skipped.push({ pid, comm: record.comm, reason: reason.slice(0, 128) });
      }
      if (d?.want) {
        candidates.push({ cheap: c, state, record, want: d.want, priority: d.priority });
      } else {
        await emit(record);
      }
    }
    for (const [pid, s] of this.#procs) {
      if (s.seenCycle !== cycle) this.#procs.delete(pid);
    }

    candidates.sort((a, b) => a.priority - b.priority);
    for (const cand of candidates) {
      // The budget is the expensive reads' own: the cheap pass reads every process whatever it
      // costs, and counting it here would leave a host whose cheap pass is slow without rollups.
      const spent = tiers.rollup.ms + tiers.full.ms;
      if (!opts.forceFull && spent >= this.#cfg.cycleBudgetMs) {
        skipped.push({
          pid: cand.cheap.pid,
          comm: cand.record.comm,
          reason: `${cand.want}: cycle budget of ${this.#cfg.cycleBudgetMs} ms used`,
        });
        await emit(cand.record);
        continue;
      }
      if (await this.#readExpensive(cand, tiers, skipped, opts.forceFull === true)) {
        // Exited while it was being read: simply gone, as when the cheap read finds it gone.
        const pid = cand.cheap.pid;
        if (!stream) records.splice(records.indexOf(cand.record), 1);
        for (let i = skipped.length - 1; i >= 0; i--) {
          if (skipped[i]?.pid === pid) skipped.splice(i, 1);
        }
        if (this.#procs.get(pid) === cand.state) this.#procs.delete(pid);
        continue;
      }
      await emit(cand.record);
    }

    for (const t of Object.values(tiers)) t.ms = round(t.ms);
    return {
      records,
      processCount,
      mappingCount,
      skipped,
      tiers,
      collectMs: this.#clock.monoMs() - t0,
    };
  }

  /**
   * The remembered state of this process, made for a new incarnation. Its identity is read again
   * after an exec (a new comm or stack start in stat: `bash -c '…; exec python3 …'` becomes
   * python3 with python3's command line and exe), and its cgroup and command line every rollup
   * interval, at a point fixed by the pid (a process moved into a limited cgroup gets that limit;
   * nginx, postgres and sshd retitle their processes without an exec).
   */
  async #track(c: CheapSample, t0: number, cycle: number): Promise<ProcState> {
    const pid = c.pid;
    let state = this.#procs.get(pid);
    if (!state || state.startTicks !== c.startTicks) {
      // A new pid, or a reused one: a new incarnation starts with a clean slate.
      state = {
        startTicks: c.startTicks,
        identity: await this.#source.readIdentity(pid, { kernelThread: c.kernelThread }),
        statComm: c.statComm,
        startStack: c.startStack,
        refreshMono: t0 - spread(pid) * this.#cfg.rollupIntervalMs,
        // The first full map comes within one full interval, at a point fixed by the pid: a
        // host full of new processes (the agent's own start) is mapped over that interval, not
        // in one cycle whose memory and stall would be the sum of every map.
        lastFullMono: t0 - spread(pid) * this.#cfg.fullIntervalMs,
        guards: { rollup: { level: 0 }, full: { level: 0 } },
        seenCycle: cycle,
      };
      this.#procs.set(pid, state);
    } else if (!c.kernelThread) {
      // Kernel threads neither exec nor move (and a kworker's comm names its current work queue).
      const exec =
        c.statComm !== state.statComm ||
        (c.startStack !== 0 && state.startStack !== 0 && c.startStack !== state.startStack);
      if (exec) {
        state.identity = await this.#source.readIdentity(pid);
        state.statComm = c.statComm;
        state.startStack = c.startStack;
      } else if (t0 - state.refreshMono >= this.#cfg.rollupIntervalMs) {
        state.refreshMono = t0;
        const place = await this.#source.readCgroup(pid);
        if (place.ok) state.identity = withPlace(state.identity, place.value);
        const cmdline = await this.#source.readCmdline(pid);
        // Empty is what an exiting process (or a zombie) reads: its address space is gone, and
        // with it the arguments. The last reading stands.
        if (cmdline.ok && cmdline.value.cmdline !== '') {
          state.identity = withCmdline(state.identity, cmdline.value);
        }
      }
    }
    state.seenCycle = cycle;
    return state;
  }

  #baseRecord(c: CheapSample, id: Identity, costMs: number): CollectedRecord {
    const r: CollectedRecord = {
      pid: c.pid,
      ppid: c.ppid,
      uid: c.uid,
      startTicks: c.startTicks,
      comm: id.comm || c.statComm.slice(0, 64),
      cmdline: id.cmdline,
      threads: c.threads,
      status: c.status,
      readCostMs: round(costMs),
      tier: 'cheap',
    };
    if (id.commBase64 !== undefined) r.commBase64 = id.commBase64;
    if (id.cmdlineBase64 !== undefined) r.cmdlineBase64 = id.cmdlineBase64;
    if (id.cmdlineTruncated) r.cmdlineTruncated = true;
    if (id.exe !== undefined) r.exe = id.exe;
    if (id.exeBase64 !== undefined) r.exeBase64 = id.exeBase64;
    if (id.cgroup !== undefined) r.cgroup = id.cgroup;
    if (id.error) r.error = id.error;
    return r;
  }

  /**
   * Which expensive tier this process gets now. A full map that is due but backed off leaves the
   * rollup to its own schedule, growth trigger and guard.
   */
  #decide(c: CheapSample, s: ProcState, forceFull: boolean, now: number): Decision | undefined {
    if (forceFull) return { want: 'full', priority: 0, held: [] };
    const cfg = this.#cfg;
    if (s.denied) {
      // Not permitted: asking again every cycle would only spend the budget on refusals.
      const since = now - s.denied.atMono;
      return since < cfg.fullIntervalMs
        ? undefined
        : { want: 'rollup', priority: -since, held: [] };
    }
    const anon = anonKb(c);
    const sinceFull = s.lastFullMono === undefined ? Infinity : now - s.lastFullMono;
    const sinceRollup = s.lastRollupMono === undefined ? Infinity : now - s.lastRollupMono;
    const growth = anon - (s.anonAtRollupKb ?? 0);
    const grewSinceRollup = s.anonAtRollupKb !== undefined && growth >= cfg.growthTriggerKb;
    // A suspect has kept growing across rollups: its full map shows where the growth lives.
    const suspect =
      s.anonAtFullKb !== undefined && anon - s.anonAtFullKb >= 4 * cfg.growthTriggerKb;

    const held: string[] = [];
    const full = this.#tier(
      'full',
      s.guards.full,
      sinceFull,
      cfg.fullIntervalMs,
      suspect && sinceFull >= cfg.rollupIntervalMs,
      growth,
    );
    if (full && full.held === undefined) return { want: 'full', priority: full.priority, held };
    if (full?.held) held.push(full.held);
    const rollup = this.#tier(
      'rollup',
      s.guards.rollup,
      sinceRollup,
      cfg.rollupIntervalMs,
      grewSinceRollup,
      growth,
    );
    if (rollup && rollup.held === undefined) {
      return { want: 'rollup', priority: rollup.priority, held };
    }
    if (rollup?.held) held.push(rollup.held);
    return held.length > 0 ? { priority: 0, held } : undefined;
  }

  /** Whether one tier is due, by schedule or by growth, and whether its backoff holds it. */
  #tier(
    tier: Expensive,
    g: Guard,
    since: number,
    interval: number,
    byGrowth: boolean,
    growthKb: number,
  ): { priority: number; held?: string } | undefined {
    if (since < interval && !byGrowth) return undefined;
    // Never read at all: highest priority; then growth, the most grown first; then the
    // longest-unread first.
    const priority = since === Infinity ? -2e15 : byGrowth ? -1e15 - growthKb : -since;
    if (g.level > 0 && since !== Infinity) {
      const factor = 2 ** g.level;
      // Growth brings a backed-off tier back to its plain interval, not below it.
      const gap = byGrowth ? interval : interval * factor;
      if (since < gap) {
        return { priority, held: `${tier}: backoff x${factor} (${g.reason ?? 'costly'})` };
      }
    }
    return { priority };
  }

  /**
   * Whether a read that failed with ENOENT or ESRCH failed because the process exited (or its pid
   * now names another process), rather than for want of the file (a kernel without
   * smaps_rollup answers ENOENT for every process that is still there).
   */
  async #exited(cheap: CheapSample, error: { code: string }): Promise<boolean> {
    if (error.code !== 'ENOENT' && error.code !== 'ESRCH') return false;
    const again = await this.#source.readCheap(cheap.pid);
    if (again.ok) return again.value.startTicks !== cheap.startTicks;
    return again.error.code === 'ENOENT' || again.error.code === 'ESRCH';
  }

  /** Reads the candidate's rollup (and map); resolves to true when the process turned out gone. */
  async #readExpensive(
    cand: Candidate,
    tiers: Record<Tier, TierCost>,
    skipped: SkippedProcess[],
    forced: boolean,
  ): Promise<boolean> {
    const { cheap, state, record } = cand;
    const cfg = this.#cfg;
    const pid = cheap.pid;
    const r0 = this.#clock.monoMs();
    const rollup = await this.#source.readRollup(pid);
    const r1 = this.#clock.monoMs();
    const rollupMs = r1 - r0;
    tiers.rollup.ms += rollupMs;
    if (rollup.ok) {
      record.rollup = rollup.value;
      record.tier = 'rollup';
      tiers.rollup.count++;
      state.lastRollupMono = r0;
      state.anonAtRollupKb = anonKb(cheap);
      state.denied = undefined;
    } else {
      if (await this.#exited(cheap, rollup.error)) return true;
      record.error ??= rollup.error;
      if (DENIED.has(rollup.error.code)) {
        state.denied = { atMono: r0, error: rollup.error };
        if (!state.deniedReported) {
          state.deniedReported = true;
          skipped.push({
            pid,
            comm: record.comm,
            reason: `rollup: ${rollup.error.code}, tried again every ${seconds(cfg.fullIntervalMs)}`,
          });
        }
      }
    }
    let fullMs: number | undefined;
    let fullReason: string | undefined;
    if (cand.want === 'full' && rollup.ok) {
      const full = await this.#source.readFull(pid, cheap.startStack);
      const r2 = this.#clock.monoMs();
      fullMs = r2 - r1;
      tiers.full.ms += fullMs;
      if (full.ok) {
        record.regions = full.value.regions;
        record.mappings = full.value.mappings;
        record.tier = 'full';
        tiers.full.count++;
        state.lastFullMono = r0;
        state.anonAtFullKb = anonKb(cheap);
      } else {
        if (await this.#exited(cheap, full.error)) return true;
        record.error ??= full.error;
      }
      // Judged on this map: its own time, the size now, and the mappings it had.
      const mappings = full.ok ? full.value.mappings.length : 0;
      if (fullMs > cfg.readBudgetMs) {
        fullReason = `read took ${Math.round(fullMs)} ms, budget ${cfg.readBudgetMs} ms`;
      } else if (cheap.status.vmRssKb > cfg.maxRssKb) {
        fullReason = `rss ${cheap.status.vmRssKb} kB over ${cfg.maxRssKb} kB`;
      } else if (mappings > cfg.maxMappings) {
        fullReason = `${mappings} mappings over ${cfg.maxMappings}`;
      }
    }
    record.readCostMs = round((record.readCostMs ?? 0) + rollupMs + (fullMs ?? 0));
    // A refusal says nothing about cost; --full reads whatever the guards say.
    if (forced || state.denied) return false;
    this.#judge(
      state.guards.rollup,
      rollupMs > cfg.readBudgetMs
        ? `read took ${Math.round(rollupMs)} ms, budget ${cfg.readBudgetMs} ms`
        : undefined,
    );
    if (fullMs !== undefined) this.#judge(state.guards.full, fullReason);
    return false;
  }

  /**
   * After a read of the guard's tier: over budget doubles the tier's interval (up to
   * 2^maxBackoffLevel), within budget halves it again.
   */
  #judge(g: Guard, overBudget: string | undefined): void {
    if (overBudget) {
      g.level = Math.min(this.#cfg.maxBackoffLevel, g.level + 1);
      g.reason = overBudget;
    } else if (g.level > 0) {
      g.level--;
      g.reason = 'easing off: last read within budget';
    }
  }
}

/** The identity with its cgroup read again. */
function withPlace(id: Identity, place: CgroupPlace): Identity {
  const { cgroup: _c, memoryCgroup: _m, ...rest } = id;
  return { ...rest, ...place };
}

/** The identity with its command line read again. */
function withCmdline(id: Identity, c: Cmdline): Identity {
  const { cmdline: _c, cmdlineBase64: _b, cmdlineTruncated: _t, ...rest } = id;
  return { ...rest, ...c };
}

function seconds(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`;
}

/** A fixed fraction in [0, 1) per pid (Knuth's multiplicative hash). */
function spread(pid: number): number {
  return (Math.imul(pid, 2654435761) >>> 0) / 2 ** 32;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
