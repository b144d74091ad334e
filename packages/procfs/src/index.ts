export type { MapsEntry, SmapsEntry } from './model.ts';
