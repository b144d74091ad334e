export { type CgroupLine, type ProcCgroup, parseCgroup, readCgroup } from './cgroup.ts';
export {
  type CgroupMount,
  type MemoryCgroup,
  type MemoryCgroupLayout,
  type MemoryLimitKb,
  MemoryLimitReader,
  memoryCgroupOf,
  parseMemoryCgroupMounts,
  readMemoryCgroupLayout,
  readMemoryLimitKb,
} from './cgroup-limit.ts';
export {
  classifyMappings,
  classifyProcess,
  compareHex,
  emptyRegions,
  type MappingClass,
  type ProcessRegions,
  type ProcessRegionTotals,
  REGION_CLASSES,
  RegionAccumulator,
  type RegionClass,
  type RegionSubclass,
  type Regions,
  type RegionTotals,
  rangeKb,
} from './classify.ts';
export {
  byteStringToUtf8,
  type Cmdline,
  DEFAULT_MAX_CMDLINE_BYTES,
  parseCmdline,
  parseComm,
  readCmdline,
  readComm,
} from './cmdline.ts';
export { ProcfsLimitError, ProcfsParseError } from './errors.ts';
export {
  AT_CLKTCK,
  AT_PAGESZ,
  type HostFacts,
  PROC_STAT_MAX_BYTES,
  parseAuxv,
  parseBootTimeMs,
  parseMeminfo,
  readBootTimeMs,
  readHostFacts,
} from './host.ts';
export {
  type CheapRead,
  type HostReadOptions,
  listPids,
  type MapReadOptions,
  type MapReadResult,
  type ProcessReadError,
  type ProcessReadOptions,
  type ProcessReadResult,
  type ReadTier,
  readHost,
  readProcess,
  readSmapsFile,
} from './host-reader.ts';
export { parseMapLine, parseMaps } from './maps.ts';
export type { MapsEntry, SmapsEntry } from './model.ts';
export {
  DEFAULT_MAX_BYTES,
  type ReadProcTextOptions,
  readProcText,
  readProcTextSync,
  STREAM_CHUNK_BYTES,
  streamProcText,
} from './read.ts';
export {
  parseSmapsRollup,
  type Rollup,
  readSmapsRollup,
  rollupFromKb,
  type SmapsRollup,
} from './rollup.ts';
export { parseSmaps, SmapsParser } from './smaps.ts';
export { type ProcStat, parseStat, readStat } from './stat.ts';
export { type ProcStatus, parseStatus, readStatus } from './status.ts';
