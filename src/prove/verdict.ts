/**
 * The guest's report (guest/prove.sh's NBDFORGE-PROVE lines on its console) read into checks: pure,
 * and strict about what it trusts. It comes from a guest running the module under test, so every
 * line is bounded, stripped of control characters, and only the checks of CHECKS are taken, in
 * their order. The host itself judges dmesg and the taint (the guest only reports them).
 */
import type { ProofCheck } from '../artifacts/proof-record.ts';

/** The checks of a proof, in the order the guest runs them; dmesg-clean is the host's. */
export const CHECKS = ['boot', 'insmod', 'write-16MiB', 'drop-caches-read-compare', 'disconnect', 'gpt-partition-scan', 'rmmod', 'dmesg-clean'] as const;
export const PATTERN_MIB = 16;

const MAX_LINE = 512;
const MAX_DMESG = 200;

/** Kernel taint bits and their letters (Documentation/admin-guide/tainted-kernels.rst). */
const TAINT_LETTERS = 'PFSRMBUDAWCIOELKXTN';
const TAINT_NAMES: Record<string, string> = {
  P: 'proprietary module', F: 'module force-loaded', S: 'out-of-spec system', R: 'module force-unloaded', M: 'machine check',
  B: 'bad page', U: 'user request', D: 'kernel died (oops)', A: 'ACPI table overridden', W: 'kernel warning', C: 'staging driver',
  I: 'firmware bug workaround', O: 'out-of-tree module', E: 'unsigned module', L: 'soft lockup', K: 'live patched', X: 'auxiliary', T: 'struct randomization', N: 'test taint',
};
/** What loading an unsigned out-of-tree module sets by design: recorded, not a failure. */
const EXPECTED_TAINT = (1 << 12) | (1 << 13);

/** `12288 (OE)`, `0 (none)`. */
export function taintText(n: number): string {
  const letters = [...TAINT_LETTERS].filter((_, i) => n & (1 << i)).join('');
  return `${n} (${letters || 'none'})`;
}

/** What in the kernel log after insmod makes a module unfit: oopses, warnings, BUGs, ABI mismatches, memory corruption. */
const BAD_DMESG = /\b(Oops|BUG:|WARNING:|general protection fault|Call Trace|kernel BUG|disagrees about version|Unknown symbol|UBSAN:|KASAN:|list_(?:add|del) corruption|refcount_t:|unreferenced object|blocked for more than|soft lockup|hard LOCKUP|RIP:)/;

export interface GuestReport {
  checks: ProofCheck[];
  dmesg: string[];
  /** /proc/sys/kernel/tainted before insmod and after the last check; undefined when the guest never said. */
  taint?: { before: number; after: number };
  signer?: string;
  /** The module's own taint letters (/sys/module/nbd/taint): E when the kernel found no valid signature. */
  modTaint?: string;
  /** The check the guest began and never finished (a hang or a panic inside it). */
  unfinished?: string;
}

/** The characters proof.json refuses (control, line-separator, bidi, BOM, U+FFFD) become spaces. */
const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffd]/gu, ' ').slice(0, MAX_LINE);

/** The guest's report lines out of its console transcript (prefix removed); everything else is ignored. */
export function reportLines(console: string): string {
  const P = 'NBDFORGE-PROVE: ';
  return console.split('\n').filter((l) => l.startsWith(P)).map((l) => l.slice(P.length)).join('\n');
}

export function parseGuestReport(text: string): GuestReport {
  const r: GuestReport = { checks: [], dmesg: [] };
  const known = new Set<string>(CHECKS);
  let started: string | undefined;
  for (const raw of text.split('\n').slice(0, 1000)) {
    const line = clean(raw);
    let m: RegExpExecArray | null;
    if ((m = /^start (\S+)$/.exec(line)) && known.has(m[1])) started = m[1];
    else if ((m = /^check (\S+) (ok|fail) (\d{1,9}) ?(.*)$/.exec(line)) && known.has(m[1]) && !r.checks.some((c) => c.name === m![1])) {
      r.checks.push({ name: m[1], ok: m[2] === 'ok', ms: Number(m[3]), detail: m[4] });
      if (started === m[1]) started = undefined;
    } else if ((m = /^dmesg (.*)$/.exec(line)) && r.dmesg.length < MAX_DMESG) r.dmesg.push(m[1]);
    else if ((m = /^taint (\d{1,12}) (\d{1,12})$/.exec(line))) r.taint = { before: Number(m[1]), after: Number(m[2]) };
    else if ((m = /^signer ?(.*)$/.exec(line))) r.signer = m[1].trim() || undefined;
    else if ((m = /^modtaint ?([A-Z]{0,20})$/.exec(line))) r.modTaint = m[1];
  }
  if (started) r.unfinished = started;
  return r;
}

/** dmesg-clean: no bad line after insmod, no taint beyond what an unsigned out-of-tree module sets. */
export function judgeKernelLog(r: Pick<GuestReport, 'dmesg' | 'taint'>): ProofCheck {
  const bad = r.dmesg.filter((l) => BAD_DMESG.test(l));
  const gained = r.taint ? r.taint.after & ~r.taint.before & ~EXPECTED_TAINT : 0;
  const problems = [
    ...(bad.length ? [`${bad.length} bad kernel log line${bad.length === 1 ? '' : 's'}, first: ${bad[0].slice(0, 200)}`] : []),
    ...(gained ? [`the kernel became tainted ${[...TAINT_LETTERS].filter((_, i) => gained & (1 << i)).map((l) => `${l} (${TAINT_NAMES[l]})`).join(', ')}`] : []),
    ...(r.taint ? [] : ['the guest never reported its taint state']),
  ];
  if (problems.length) return { name: 'dmesg-clean', ok: false, detail: problems.join('; '), ms: 0 };
  return { name: 'dmesg-clean', ok: true, detail: `${r.dmesg.length} kernel log lines after insmod, no oops, WARNING, BUG or version mismatch; taint ${taintText(r.taint!.after)}`, ms: 0 };
}

/**
 * Every check of CHECKS once, in order: what the guest reported, the host's dmesg-clean, and for the
 * rest why it did not run (the first failure, the check the guest hung in, or a boot that never
 * reached the script).
 */
export function completeChecks(r: GuestReport, bootProblem?: string): ProofCheck[] {
  const got = new Map(r.checks.map((c) => [c.name, c]));
  const ran = r.checks.length > 0 || r.taint !== undefined;
  if (ran) got.set('dmesg-clean', judgeKernelLog(r));
  const firstFail = r.checks.find((c) => !c.ok)?.name;
  return CHECKS.map((name) => {
    const c = got.get(name);
    if (c) return c;
    if (name === r.unfinished) return { name, ok: false, detail: `began and never ended: ${bootProblem ?? 'the guest stopped inside it'}`, ms: 0 };
    if (name === 'boot' && !ran) return { name, ok: false, detail: bootProblem ?? 'the guest never reached the proof script', ms: 0 };
    const why = r.unfinished ? `${r.unfinished} never ended` : firstFail ? `${firstFail} failed` : 'the guest never got there';
    return { name, ok: false, detail: `not run: ${why}`, ms: 0 };
  });
}
