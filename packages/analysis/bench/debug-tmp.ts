import { readFileSync } from 'node:fs';
import { historyOf } from '../sim/buckets-from-samples.ts';
import { buildFleet } from '../sim/fleet.ts';
import { leakRate as leakRatePctPerHour } from '../sim/leak-rate.ts';
import { parseScenario } from '../sim/scenario.ts';
import { scoreService } from '../src/service.ts';

const file = process.argv[2] as string;
const which = process.argv[3] ?? 'leak';
const sc = parseScenario(JSON.parse(readFileSync(file, 'utf8')));
const fleet = buildFleet(sc);
const W = (sc.windowHours ?? sc.durationHours) * 3600000;
for (const inst of fleet.instances) {
  if (which === 'leak' ? !inst.leak : inst.leak) continue;
  const h = historyOf(fleet, inst);
  const line: string[] = [];
  for (let t = fleet.startMs + 30 * 60000; t <= fleet.endMs; t += 60 * 60000) {
    const from = Math.max(fleet.startMs, t - W);
    const s = scoreService(
      h.buckets.map((b) => ({ buckets: b.filter((x) => x.tStartMs >= from && x.tEndMs <= t) })),
      { windowStartMs: from, windowEndMs: t },
    );
    const l = s.latest;
    line.push(
      s.leak ? 'L' : (l?.reason ?? 'x').slice(0, 1) + (l ? `${l.pctPerHour.toFixed(1)}` : ''),
    );
  }
  if (which !== 'leak' && !line.some((x) => x === 'L')) continue;
  console.log(
    inst.host,
    inst.name,
    leakRatePctPerHour(inst).toFixed(2),
    JSON.stringify(
      inst.components.map((c) =>
        Object.values(c)
          .map((v) => (typeof v === 'number' ? +v.toFixed(2) : v))
          .join(':'),
      ),
    ),
  );
  console.log('   ', line.join(' '));
}
