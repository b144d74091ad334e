export { ProcfsLimitError, ProcfsParseError } from './errors.ts';
export { parseMapLine, parseMaps } from './maps.ts';
export type { MapsEntry, SmapsEntry } from './model.ts';
export { DEFAULT_MAX_BYTES, type ReadProcTextOptions, readProcText } from './read.ts';
export { parseSmaps, SmapsParser } from './smaps.ts';
