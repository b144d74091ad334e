import type { ProcessRecord, SkippedProcess, Tier } from '@fleetpmap/protocol';
import type { Clock } from './clock.ts';
import type { CheapSample, Identity, ProcSource } from './proc-source.ts';

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

/** What the collector remembers about one process incarnation between cycles. */
interface ProcState {
  startTicks: number;
  identity: Identity;
  lastRollupMono?: number;
  lastFullMono?: number;
  anonAtRollupKb?: number;
  anonAtFullKb?: number;
  /** Expensive tiers run at most every interval × 2^level. */
  level: number;
  /** Why `level` last went up, for the skip report. */
  levelReason?: string;
  mappingCount?: number;
  seenCycle: number;
}

interface Candidate {
  cheap: CheapSample;
  state: ProcState;
  record: CollectedRecord;
  want: 'rollup' | 'full';
  /** Lower runs first: growth before schedule, never-read before long-unread. */
  priority: number;
  heldReason?: string;
}

/** Anonymous memory as the leak ranking sees it: swapped-out anon did not stop leaking. */
function anonKb(c: CheapSample): number {
  return c.status.rssAnonKb + c.status.vmSwapKb;
}

/**
 * The tiered, cost-budgeted collection of ARCHITECTURE.md. Every cycle reads `stat` + `status` of
 * every process (tier 1). `smaps_rollup` (tier 2) and full `smaps` (tier 3) walk the target's page
 * tables under its mmap lock, so they run less often, at once for growing processes, and never
 * for a process whose last expensive read was slow or which is over the size limits more often
 * than its backed-off interval allows. The expensive reads of a cycle stop once they have taken the
 * cycle budget; what was due but not read is reported with the reason.
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
      let state = this.#procs.get(pid);
      if (!state || state.startTicks !== c.startTicks) {
        // A new pid, or a reused one: a new incarnation starts with a clean slate.
        state = {
          startTicks: c.startTicks,
          identity: await this.#source.readIdentity(pid),
          // The first full map comes within one full interval, at a point fixed by the pid: a
          // host full of new processes (the agent's own start) is mapped over that interval, not
          // in one cycle whose memory and stall would be the sum of every map.
          lastFullMono: t0 - spread(pid) * this.#cfg.fullIntervalMs,
          level: 0,
          seenCycle: cycle,
        };
        this.#procs.set(pid, state);
      }
      state.seenCycle = cycle;
      const limitKb = state.identity.memoryCgroup && limitOf(state.identity.memoryCgroup);
      const cost = this.#clock.monoMs() - r0;
      tiers.cheap.ms += cost;
      tiers.cheap.count++;
      const record = this.#baseRecord(c, state.identity, cost);
      if (limitKb !== undefined) record.memoryLimitKb = limitKb;
      if (!stream) records.push(record);
      // Kernel threads have no address space: there is no rollup or map to read.
      const want =
        c.status.vmSizeKb === 0 ? undefined : this.#decide(c, state, opts.forceFull === true, t0);
      if (want) candidates.push({ cheap: c, state, record, ...want });
      else await emit(record);
    }
    for (const [pid, s] of this.#procs) {
      if (s.seenCycle !== cycle) this.#procs.delete(pid);
    }

    candidates.sort((a, b) => a.priority - b.priority);
    for (const cand of candidates) {
      if (cand.heldReason) {
        skipped.push({
          pid: cand.cheap.pid,
          comm: cand.record.comm,
          reason: cand.heldReason.slice(0, 128),
        });
        await emit(cand.record);
        continue;
      }
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
      await this.#readExpensive(cand, tiers, opts.forceFull === true);
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

  /** Which expensive tier this process wants now, and whether the guard holds it back. */
  #decide(
    c: CheapSample,
    s: ProcState,
    forceFull: boolean,
    now: number,
  ): Pick<Candidate, 'want' | 'priority' | 'heldReason'> | undefined {
    const cfg = this.#cfg;
    const anon = anonKb(c);
    const factor = 2 ** s.level;
    if (forceFull) return { want: 'full', priority: 0 };

    const sinceFull = s.lastFullMono === undefined ? Infinity : now - s.lastFullMono;
    const sinceRollup = s.lastRollupMono === undefined ? Infinity : now - s.lastRollupMono;
    const grewSinceRollup =
      s.anonAtRollupKb !== undefined && anon - s.anonAtRollupKb >= cfg.growthTriggerKb;
    // A suspect has kept growing across rollups: its full map shows where the growth lives.
    const suspect =
      s.anonAtFullKb !== undefined && anon - s.anonAtFullKb >= 4 * cfg.growthTriggerKb;

    let want: 'rollup' | 'full' | undefined;
    let byGrowth = false;
    if (sinceFull >= cfg.fullIntervalMs) want = 'full';
    else if (suspect && sinceFull >= cfg.rollupIntervalMs) {
      want = 'full';
      byGrowth = true;
    } else if (sinceRollup >= cfg.rollupIntervalMs) want = 'rollup';
    else if (grewSinceRollup) {
      want = 'rollup';
      byGrowth = true;
    }
    if (!want) return undefined;

    const since = want === 'full' ? sinceFull : sinceRollup;
    const interval = want === 'full' ? cfg.fullIntervalMs : cfg.rollupIntervalMs;
    // Never read at all: highest priority; then growth; then the longest-unread first.
    const priority =
      since === Infinity
        ? -2e15
        : byGrowth
          ? -1e15 + (anon - (s.anonAtRollupKb ?? 0)) * -1
          : -since;

    if (s.level > 0 && since !== Infinity) {
      const gap = byGrowth ? interval : interval * factor;
      if (since < gap) {
        return {
          want,
          priority,
          heldReason: `${want}: backoff x${factor} (${s.levelReason ?? 'costly'})`,
        };
      }
    }
    return { want, priority };
  }

  async #readExpensive(
    cand: Candidate,
    tiers: Record<Tier, TierCost>,
    forced: boolean,
  ): Promise<void> {
    const { cheap, state, record } = cand;
    const pid = cheap.pid;
    const r0 = this.#clock.monoMs();
    const rollup = await this.#source.readRollup(pid);
    const r1 = this.#clock.monoMs();
    tiers.rollup.ms += r1 - r0;
    let costMs = r1 - r0;
    if (rollup.ok) {
      record.rollup = rollup.value;
      record.tier = 'rollup';
      tiers.rollup.count++;
      state.lastRollupMono = r0;
      state.anonAtRollupKb = anonKb(cheap);
    } else {
      record.error ??= rollup.error;
    }
    if (cand.want === 'full' && rollup.ok) {
      const full = await this.#source.readFull(pid, cheap.startStack);
      const r2 = this.#clock.monoMs();
      tiers.full.ms += r2 - r1;
      costMs += r2 - r1;
      if (full.ok) {
        record.regions = full.value.regions;
        record.mappings = full.value.mappings;
        record.tier = 'full';
        tiers.full.count++;
        state.lastFullMono = r0;
        state.anonAtFullKb = anonKb(cheap);
        state.mappingCount = full.value.mappings.length;
      } else {
        record.error ??= full.error;
      }
    }
    record.readCostMs = round((record.readCostMs ?? 0) + costMs);
    if (forced) return;
    this.#guard(state, cheap, costMs);
  }

  /** Raises the backoff level of a costly process, lowers it again once reads are cheap. */
  #guard(s: ProcState, c: CheapSample, costMs: number): void {
    const cfg = this.#cfg;
    let reason: string | undefined;
    if (costMs > cfg.readBudgetMs) {
      reason = `read took ${Math.round(costMs)} ms, budget ${cfg.readBudgetMs} ms`;
    } else if (c.status.vmRssKb > cfg.maxRssKb) {
      reason = `rss ${c.status.vmRssKb} kB over ${cfg.maxRssKb} kB`;
    } else if ((s.mappingCount ?? 0) > cfg.maxMappings) {
      reason = `${s.mappingCount} mappings over ${cfg.maxMappings}`;
    }
    if (reason) {
      s.level = Math.min(cfg.maxBackoffLevel, s.level + 1);
      s.levelReason = reason;
    } else if (s.level > 0) {
      s.level--;
    }
  }
}

/** A fixed fraction in [0, 1) per pid (Knuth's multiplicative hash). */
function spread(pid: number): number {
  return (Math.imul(pid, 2654435761) >>> 0) / 2 ** 32;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
