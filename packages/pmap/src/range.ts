import { strtoul } from './c-scan.ts';
import type { PmapRange } from './options.ts';

/**
 * Applies one `-A LOW[,HIGH]` argument to `current` with pmap's rules: each non-empty side is read
 * with strtoul(…, 16); without a comma HIGH = LOW; an empty side keeps the current value. Returns
 * null when characters are left over (pmap: `failed to parse argument: '<arg>'`).
 */
export function applyRange(arg: string, current: PmapRange): PmapRange | null {
  const comma = arg.indexOf(',');
  const lowText = comma < 0 ? arg : arg.slice(0, comma);
  const highText = comma < 0 ? arg : arg.slice(comma + 1);
  let { low, high } = current;
  let rest = false;
  if (lowText.length > 0) {
    const v = strtoul(lowText, 0, 16);
    low = v.value;
    rest ||= v.end < lowText.length;
  }
  if (highText.length > 0) {
    const v = strtoul(highText, 0, 16);
    high = v.value;
    rest ||= v.end < highText.length;
  }
  return rest ? null : { low, high };
}

/**
 * A PID argument after pmap's `/proc/` and leading-digit checks: strtoul(…, 0), so hex (`0x2140`)
 * and octal (`020500`) are accepted; null unless it is 1..0x7fffffff with nothing left over.
 */
export function parsePidArgument(text: string): number | null {
  const v = strtoul(text, 0, 0);
  if (v.end !== text.length || v.value < 1n || v.value > 0x7fffffffn) return null;
  return Number(v.value);
}
