export { ULONG_MAX } from './c-scan.ts';
export {
  CMDLINE_BUFFER_BYTES,
  escapeString,
  flattenCmdline,
  headerLine,
  type PmapStat,
  parsePmapStat,
  processCommand,
  tgidFromStatus,
} from './command.ts';
export { PmapFormatError } from './errors.ts';
export { MAPS_SORT_FIELDS, renderMapsTable } from './maps-table.ts';
export {
  FULL_RANGE,
  type PmapMode,
  type PmapOptions,
  type PmapProcess,
  type PmapRange,
} from './options.ts';
export { applyRange, parsePidArgument } from './range.ts';
export { parseRcFile, RC_TEMPLATE, type RcFile } from './rc-file.ts';
export { readsSmaps, renderProcess, smapsTableMode } from './render.ts';
export { SortFieldError } from './row-sort.ts';
export { DEFAULT_SHM_MINOR, findShmMinor, parseSysvShmIds } from './shm.ts';
export { renderSmapsTable, SMAPS_KB_KEYS, X_HIDDEN_KEYS } from './smaps-table.ts';
