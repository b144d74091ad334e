// Property definitions shared by the quick run in the tests and the long run
// (`npm run fuzz:procfs`): generated valid files must round-trip, and mutated files must either
// parse or fail with ProcfsParseError — never another error, never a hang.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseCgroup } from './cgroup.ts';
import { classifyProcess } from './classify.ts';
import { parseCmdline } from './cmdline.ts';
import { ProcfsParseError } from './errors.ts';
import { parseAuxv, parseMeminfo } from './host.ts';
import { parseMaps } from './maps.ts';
import type { SmapsEntry } from './model.ts';
import { parseSmapsRollup } from './rollup.ts';
import { parseSmaps, SmapsParser } from './smaps.ts';
import { parseStat } from './stat.ts';
import { parseStatus } from './status.ts';
import { FIXTURE_PROC } from './test-support.ts';

const hexChars = '0123456789abcdef'.split('');
const hex = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...hexChars), minLength: min, maxLength: max });

/** Path bytes: anything but newline (the kernel escapes it), as a latin1 byte string. */
const pathByte = fc.oneof(
  fc.constantFrom(' ', '/', '[', ']', '(', ')', ':', '\\', 'a', 'Z', '0', '\t', '\x7f'),
  fc.integer({ min: 0x21, max: 0xff }).map((c) => String.fromCharCode(c)),
);
const mapPath = fc.oneof(
  fc.constant(''),
  fc.constantFrom('[heap]', '[stack]', '[vdso]', '[anon:x y]', '/dev/zero (deleted)'),
  fc
    .tuple(fc.constantFrom('/', '[', 'm'), fc.string({ unit: pathByte, maxLength: 40 }))
    .map(([a, b]) => a + b),
);

interface GenMap {
  start: string;
  end: string;
  perms: string;
  offset: string;
  dev: string;
  inode: string;
  path: string;
}

const mapEntry: fc.Arbitrary<GenMap> = fc.record({
  start: hex(1, 16),
  end: hex(1, 16),
  perms: fc
    .tuple(
      fc.constantFrom('r', '-'),
      fc.constantFrom('w', '-'),
      fc.constantFrom('x', '-'),
      fc.constantFrom('p', 's'),
    )
    .map((p) => p.join('')),
  offset: hex(1, 16),
  dev: fc.tuple(hex(1, 8), hex(1, 8)).map(([a, b]) => `${a}:${b}`),
  inode: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  path: mapPath,
});

function renderMapLine(m: GenMap): string {
  const head = `${m.start}-${m.end} ${m.perms} ${m.offset} ${m.dev} ${m.inode} `;
  return m.path === '' ? head : `${head.padEnd(73)}${m.path}`;
}

const keyName = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/)
  .filter((k) => k !== 'VmFlags' && k !== '__proto__');
const extraValue = fc
  .oneof(fc.stringMatching(/^[0-9a-z]{0,12}$/), fc.stringMatching(/^[a-z]+ [a-z0-9]+$/))
  .filter((v) => !/^\d+ kB$/.test(v));

interface GenField {
  key: string;
  kb?: number;
  text?: string;
}

const fields = fc.uniqueArray(
  fc.record({ key: keyName, kb: fc.integer({ min: 0, max: 10 ** 15 - 1 }) }).chain((f) =>
    fc.oneof(
      fc.constant<GenField>(f),
      extraValue.map((text): GenField => ({ key: f.key, text })),
    ),
  ),
  { selector: (f) => f.key, maxLength: 8 },
);

const smapsEntry = fc.record({
  map: mapEntry,
  fields,
  vmFlags: fc.option(fc.array(fc.stringMatching(/^[a-z]{2}$/), { maxLength: 6 }), {
    nil: null,
  }),
});
type GenSmaps = typeof smapsEntry extends fc.Arbitrary<infer T> ? T : never;

function renderSmaps(entries: GenSmaps[]): string {
  let out = '';
  for (const e of entries) {
    out += `${renderMapLine(e.map)}\n`;
    for (const f of e.fields) {
      out +=
        f.text === undefined
          ? `${`${f.key}:`.padEnd(16)}${String(f.kb).padStart(8)} kB\n`
          : `${`${f.key}:`.padEnd(16)}${f.text}\n`;
    }
    if (e.vmFlags !== null) out += `VmFlags: ${e.vmFlags.map((f) => `${f} `).join('')}\n`;
  }
  return out;
}

function expectedSmaps(entries: GenSmaps[]): unknown[] {
  let line = 1;
  return entries.map((e) => {
    const kb: Record<string, number> = {};
    const extra: Record<string, string> = {};
    for (const f of e.fields) {
      if (f.text === undefined) kb[f.key] = f.kb ?? 0;
      else extra[f.key] = f.text;
    }
    const out = {
      ...e.map,
      line,
      kb,
      extra,
      fieldOrder: e.fields.map((f) => f.key),
      vmFlags: e.vmFlags,
    };
    line += 1 + e.fields.length + (e.vmFlags === null ? 0 : 1);
    return out;
  });
}

function plain(entries: SmapsEntry[]): unknown[] {
  return entries.map((e) => ({ ...e, fieldOrder: [...e.fieldOrder] }));
}

function assertEqual(actual: unknown, expected: unknown): void {
  const big = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);
  const a = JSON.stringify(actual, big);
  const b = JSON.stringify(expected, big);
  if (a !== b) throw new Error(`round trip differs:\n got ${a}\nwant ${b}`);
}

/** Runs `fn`; only ProcfsParseError may escape it. */
function onlyParseErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProcfsParseError)) throw err;
  }
}

// ---- stat -------------------------------------------------------------------------------------

const statGen = fc.record({
  pid: fc.integer({ min: 1, max: 4194304 }),
  comm: fc.string({
    unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)),
    maxLength: 64,
  }),
  state: fc.constantFrom('R', 'S', 'D', 'Z', 'T', 't', 'X', 'I'),
  nums: fc.array(fc.integer({ min: 0, max: 2 ** 31 }), { minLength: 49, maxLength: 49 }),
  startStack: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
});

// ---- mutation ---------------------------------------------------------------------------------

const mutation = fc.record({
  kind: fc.constantFrom('flip', 'truncate', 'insert', 'delete', 'dup'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 64 }),
  byte: fc.integer({ min: 0, max: 0xff }),
});
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, muts: Mutation[]): string {
  let t = text;
  for (const m of muts) {
    const at = t.length === 0 ? 0 : m.at % (t.length + 1);
    const ch = String.fromCharCode(m.byte);
    switch (m.kind) {
      case 'flip':
        t = t.slice(0, at) + ch + t.slice(at + 1);
        break;
      case 'truncate':
        t = t.slice(0, at);
        break;
      case 'insert':
        t = t.slice(0, at) + ch.repeat(m.len % 4 === 0 ? m.len : 1) + t.slice(at);
        break;
      case 'delete':
        t = t.slice(0, at) + t.slice(at + m.len);
        break;
      case 'dup':
        t = t.slice(0, at + m.len) + t.slice(at, at + m.len) + t.slice(at + m.len);
        break;
    }
  }
  return t;
}

function fixtureSamples(file: string, maxBytes = 64 * 1024): string[] {
  const out: string[] = [];
  for (const name of readdirSync(FIXTURE_PROC)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push(readFileSync(join(FIXTURE_PROC, name, file), 'latin1').slice(0, maxBytes));
    } catch {
      // Not every captured process has every file.
    }
  }
  return out.length > 0 ? out : [''];
}

export interface NamedProperty {
  name: string;
  property: fc.IProperty<unknown[]>;
}

/** Every property, built lazily so fixture files are read only when used. */
export function buildProperties(): NamedProperty[] {
  const smapsSamples = fixtureSamples('smaps', 8 * 1024);
  smapsSamples.push(readFileSync(join(FIXTURE_PROC, '..', 'edge', 'smaps'), 'latin1'));
  const mutatedFrom = (samples: string[]) =>
    fc.tuple(fc.constantFrom(...samples), fc.array(mutation, { minLength: 1, maxLength: 4 }));
  const mutateProp = (
    name: string,
    samples: string[],
    parse: (text: string) => void,
  ): NamedProperty => ({
    name,
    property: fc.property(mutatedFrom(samples), ([base, muts]) =>
      onlyParseErrors(() => parse(mutate(base, muts))),
    ) as fc.IProperty<unknown[]>,
  });

  const props: NamedProperty[] = [
    {
      name: 'smaps round-trip',
      property: fc.property(fc.array(smapsEntry, { maxLength: 6 }), (entries) => {
        assertEqual(plain(parseSmaps(renderSmaps(entries), 'gen')), expectedSmaps(entries));
      }) as fc.IProperty<unknown[]>,
    },
    {
      name: 'smaps chunked equals whole',
      property: fc.property(
        fc.array(smapsEntry, { maxLength: 4 }),
        fc.integer({ min: 1, max: 200 }),
        (entries, chunk) => {
          const text = renderSmaps(entries);
          const out: SmapsEntry[] = [];
          const p = new SmapsParser('gen', (e) => out.push(e));
          for (let i = 0; i < text.length; i += chunk) p.write(text.slice(i, i + chunk));
          p.end();
          assertEqual(plain(out), expectedSmaps(entries));
        },
      ) as fc.IProperty<unknown[]>,
    },
    {
      name: 'maps round-trip',
      property: fc.property(fc.array(mapEntry, { maxLength: 8 }), (maps) => {
        const text = maps.map((m) => `${renderMapLine(m)}\n`).join('');
        assertEqual(
          parseMaps(text, 'gen'),
          maps.map((m, i) => ({ ...m, line: i + 1 })),
        );
      }) as fc.IProperty<unknown[]>,
    },
    {
      name: 'stat round-trip',
      property: fc.property(statGen, (s) => {
        const n = s.nums.map(String);
        n[24] = String(s.startStack); // nums[j] is field j + 4; startstack is field 28
        const text = `${s.pid} (${s.comm}) ${s.state} ${n.join(' ')}\n`;
        const st = parseStat(text, 'gen');
        assertEqual(
          [st.pid, st.comm, st.state, st.ppid, st.startTicks, st.numThreads, st.startStack],
          [s.pid, s.comm, s.state, s.nums[0], s.nums[18], s.nums[16], s.startStack],
        );
      }) as fc.IProperty<unknown[]>,
    },
    {
      name: 'status round-trip',
      property: fc.property(
        fc.record({
          pid: fc.integer({ min: 1, max: 2 ** 22 }),
          uid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          rss: fc.integer({ min: 0, max: 2 ** 40 }),
          other: fc.uniqueArray(fc.tuple(keyName, extraValue), {
            selector: ([k]) => k,
            maxLength: 6,
          }),
        }),
        (g) => {
          const fixed = new Set(['Name', 'Tgid', 'Pid', 'PPid', 'Uid', 'VmRSS', 'Threads']);
          const other = g.other.filter(
            ([k]) => !fixed.has(k) && !k.startsWith('Vm') && !k.startsWith('Rss'),
          );
          const text =
            `Name:\tx\nTgid:\t${g.pid}\nPid:\t${g.pid}\nPPid:\t1\n` +
            `Uid:\t${g.uid}\t${g.uid}\t${g.uid}\t${g.uid}\nVmRSS:\t${String(g.rss).padStart(8)} kB\n` +
            other.map(([k, v]) => `${k}:\t${v}\n`).join('');
          const st = parseStatus(text, 'gen');
          assertEqual(
            [st.pid, st.uids[0], st.vmRssKb, other.map(([k]) => st.fields[k])],
            [g.pid, g.uid, g.rss, other.map(([, v]) => v)],
          );
        },
      ) as fc.IProperty<unknown[]>,
    },
    {
      name: 'cmdline round-trip',
      property: fc.property(
        fc.array(
          fc.string({
            unit: fc.integer({ min: 1, max: 0xff }).map((c) => String.fromCharCode(c)),
            maxLength: 20,
          }),
          { minLength: 1, maxLength: 6 },
        ),
        (args) => {
          const c = parseCmdline(`${args.join('\0')}\0`);
          assertEqual([c.args, c.text], [args, args.join(' ')]);
        },
      ) as fc.IProperty<unknown[]>,
    },
    {
      name: 'cgroup round-trip',
      property: fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 99 }),
            fc.stringMatching(/^[a-z,=_]{0,12}$/),
            fc.stringMatching(/^\/[^\n]{0,30}$/),
          ),
          { maxLength: 5 },
        ),
        (lines) => {
          const cg = parseCgroup(lines.map(([i, c, p]) => `${i}:${c}:${p}\n`).join(''), 'gen');
          assertEqual(
            cg.lines,
            lines.map(([hierarchyId, controllers, path]) => ({ hierarchyId, controllers, path })),
          );
        },
      ) as fc.IProperty<unknown[]>,
    },
    mutateProp('smaps mutated', smapsSamples, (t) => {
      classifyProcess(parseSmaps(t, 'mut'), 0x7ffc00021000n);
    }),
    mutateProp('maps mutated', fixtureSamples('maps'), (t) => {
      parseMaps(t, 'mut');
    }),
    mutateProp('smaps_rollup mutated', fixtureSamples('smaps_rollup'), (t) => {
      parseSmapsRollup(t, 'mut');
    }),
    mutateProp('stat mutated', fixtureSamples('stat'), (t) => {
      parseStat(t, 'mut');
    }),
    mutateProp('status mutated', fixtureSamples('status'), (t) => {
      parseStatus(t, 'mut');
    }),
    mutateProp('cgroup mutated', fixtureSamples('cgroup'), (t) => {
      parseCgroup(t, 'mut');
    }),
    mutateProp('cmdline mutated', fixtureSamples('cmdline'), (t) => {
      parseCmdline(t);
    }),
    mutateProp('meminfo mutated', [readFileSync(join(FIXTURE_PROC, 'meminfo'), 'latin1')], (t) => {
      parseMeminfo(t, 'mut');
    }),
    {
      name: 'auxv arbitrary bytes',
      property: fc.property(fc.uint8Array({ maxLength: 512 }), (b) =>
        onlyParseErrors(() => {
          parseAuxv(b, 'gen');
        }),
      ) as fc.IProperty<unknown[]>,
    },
    mutateProp('smaps random text', [''], (t) => {
      parseSmaps(t, 'mut');
    }),
  ];
  return props;
}
