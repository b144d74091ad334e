export { aggregates1h, aggregates5m } from './aggregates.ts';
export { apiTokens } from './api-tokens.ts';
export { fullMaps } from './full-maps.ts';
export { hosts } from './hosts.ts';
export { incarnations } from './incarnations.ts';
export { leakVerdicts, verdictRuns } from './leak-verdicts.ts';
export { mapEntries } from './map-entries.ts';
export { rollupState } from './rollup-state.ts';
export { sampleBlocks } from './sample-blocks.ts';
