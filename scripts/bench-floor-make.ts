/**
 * The floor's shell (run inside one builder container kept for the whole bench, scripts/bench-floor.ts)
 * and the parser of its lines. Per kernel: link the kbuild tree from the derived cache where the headers'
 * Makefile expects it, put the module's sources and Kbuild in place, make once untimed, then time
 * `make modules` alone, one exec per timed make so floors and forced builds can alternate.
 */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface FloorRun {
  median: number;
  /** The annotated run's phases in order: [phase, seconds]. */
  split: Array<[string, number]>;
}

const PRELUDE = `set -eu
now() { date +%s.%N; }
prep() {
  krel=$1 hk=$2 sk=$3 prefix=$4 module=$5 dir=$6; shift 6
  k=/derived/kbuild-$hk
  for t in "$k"/usr/src/* "$k"/usr/lib/*; do ln -sfn "$t" "\${t#"$k"}"; done
  m=/work/m-$krel; rm -rf "$m"; mkdir -p "$m"
  for s in $1; do cp "/derived/src-$sk/$prefix$s" "$m/"; done
  printf 'obj-m := %s.o\\nccflags-y += -fmacro-prefix-map=$(src)/=%s/\\n' "$module" "$dir" > "$m/Kbuild"
}
clean() { (cd "/work/m-$1" && rm -f ./*.o ./*.ko ./*.mod ./*.mod.c modules.order Module.symvers ./.*.cmd); }
timed() {
  clean "$1"
  a=$(now); make -s -C "/usr/src/linux-headers-$1" M="/work/m-$1" modules >/dev/null 2>&1; b=$(now)
  echo "@@floor $1 $a $b"
}
split() {
  clean "$1"
  echo "@@split $1 start $(now)"
  make V=1 -C "/usr/src/linux-headers-$1" M="/work/m-$1" modules 2>&1 | while IFS= read -r l; do echo "@@split $1 $(now) $l"; done
  echo "@@split $1 end $(now)"
}`;

/**
 * Each kernel's tree linked, sources and Kbuild in place, and one untimed warm-up make (the first make
 * of a kernel reads its tree from disk: a floor is a warm make). Run once in the floor's container.
 */
export function floorPrepare(envs: Array<Record<string, string>>): string {
  const body = envs.map((e) => {
    const dir = e.MODULE_SOURCES.split(' ')[0].replace(/\/[^/]*$/, '');
    return `prep ${q(e.KREL)} ${q(e.HEADERS_KEY)} ${q(e.SOURCE_KEY)} ${q(e.SOURCE_PREFIX)} ${q(e.MODULE)} ${q(dir)} ${q(e.MODULE_SOURCES)}\ntimed ${q(e.KREL)} >/dev/null`;
  });
  return `${PRELUDE}\n${body.join('\n')}\n`;
}

/** `runs` timed plain makes of each prepared kernel (@@floor lines), then, with `split`, one annotated V=1 make each. */
export function floorTimed(krels: string[], runs = 1, annotated = false): string {
  const each = krels.map((k) => `${Array.from({ length: runs }, () => `timed ${q(k)}`).join('\n')}${annotated ? `\nsplit ${q(k)}` : ''}`);
  return `${PRELUDE}\n${each.join('\n')}\n`;
}

/** Which phase a make V=1 command line starts, if any. */
function phaseOf(cmd: string): string | undefined {
  if (/pahole|resolve_btfids/.test(cmd)) return 'btf';
  if (/scripts\/mod\/modpost/.test(cmd)) return 'modpost';
  if (/\.mod\.o\b|\bld\b.*\.ko\b/.test(cmd)) return 'link';
  if (/\bgcc[-0-9]*\b.*-c\b/.test(cmd)) return 'cc';
  return undefined;
}

export function parseFloor(lines: string[]): Map<string, FloorRun> {
  const plain = new Map<string, number[]>();
  const marks = new Map<string, Array<[string, number]>>();
  for (const l of lines) {
    let m = /^@@floor (\S+) ([\d.]+) ([\d.]+)$/.exec(l);
    if (m) {
      plain.set(m[1], [...(plain.get(m[1]) ?? []), Number(m[3]) - Number(m[2])]);
      continue;
    }
    m = /^@@split (\S+) (start|end|[\d.]+) ?(.*)$/.exec(l);
    if (!m) continue;
    const list = marks.get(m[1]) ?? [];
    marks.set(m[1], list);
    if (m[2] === 'start') list.push(['make set-up', Number(m[3])]);
    else if (m[2] === 'end') list.push(['end', Number(m[3])]);
    else {
      const [t, rest] = [Number(m[2]), m[3]];
      const phase = phaseOf(rest);
      if (phase && list.at(-1)?.[0] !== phase) list.push([phase, t]);
    }
  }
  const out = new Map<string, FloorRun>();
  for (const krel of new Set([...plain.keys(), ...marks.keys()])) {
    const xs = plain.get(krel) ?? [];
    const ms = marks.get(krel) ?? [];
    const split = new Map<string, number>();
    for (let i = 0; i + 1 < ms.length; i++) split.set(ms[i][0], (split.get(ms[i][0]) ?? 0) + ms[i + 1][1] - ms[i][1]);
    out.set(krel, { median: [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)], split: [...split] });
  }
  return out;
}
