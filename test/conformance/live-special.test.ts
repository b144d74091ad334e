import { liveGroups } from './cases.ts';
import { defineLiveSuite } from './live-suite.ts';

defineLiveSuite(liveGroups.special);
