import type { Precondition } from '../host/step.ts';
import { shc } from '../host/step.ts';
import type { HostFacts } from '../host/facts.ts';
import type { HostLayout } from './layout.ts';

/**
 * What must hold before prepare-host touches a host, each rule twice side by side: as a sh check that
 * goes into the plan (so an emitted script or an ssh run re-checks on the host at run time) and as a
 * judgement on gathered facts (so the CLI can answer before it even picks an artifact).
 * `fromFacts` returns undefined when fine, else the detail the sh check would print.
 */
export interface Rule extends Precondition {
  fromFacts(f: HostFacts): string | undefined;
}

/**
 * `signed`: the chosen artifact carries a signature that verified against its certificate (true),
 * carries none (false), or no artifact is chosen yet (undefined: the signature rule waits for it).
 */
export function prepareHostRules(l: HostLayout, artifactSha256: string | undefined, tools: string[], signed?: boolean): Rule[] {
  const rules: Rule[] = [...hostRules(l), ...nbdAbsentRules(l, artifactSha256), ...loadingRules(signed), toolsRule(tools)];
  // A signed module goes ahead: whether the host trusts its key is the kernel's answer at load time
  // (a refusal there fails the load step, which undoes the install).
  return signed ? rules.filter((r) => r.id !== 'signatures') : rules;
}

/** Root, on the kernel the plan is for, whose module directory exists. */
function hostRules(l: HostLayout): Rule[] {
  const v = l.kernelRelease;
  return [
    {
      id: 'root',
      describe: 'running as root',
      check: shc('u=$(id -u); [ "$u" = 0 ] || { echo "running as uid $u"; exit 1; }'),
      otherwise: 'refuse',
      message: 'prepare-host must run as root',
      fromFacts: (f) => (f.isRoot ? undefined : `running as uid ${f.uid}`),
    },
    {
      id: 'kernel',
      describe: `the running kernel is ${v}`,
      check: shc('r=$(uname -r); [ "$r" = "$1" ] || { echo "this host runs $r"; exit 1; }', v),
      otherwise: 'refuse',
      message: `this plan is for kernel ${v}`,
      fromFacts: (f) => (f.kernelRelease === v ? undefined : `this host runs ${f.kernelRelease}`),
    },
    {
      id: 'module-dir',
      describe: `${l.moduleDir} exists`,
      check: shc('[ -d "$1" ] || { echo "$1 is missing"; exit 1; }', l.moduleDir),
      otherwise: 'refuse',
      message: `no module directory for kernel ${v}`,
      fromFacts: (f) => (f.moduleDir ? undefined : `${l.moduleDir} is missing`),
    },
  ];
}

/** No other nbd: none built in, none loaded (but this artifact), none shipped with the kernel. */
function nbdAbsentRules(l: HostLayout, artifactSha256: string | undefined): Rule[] {
  const v = l.kernelRelease;
  return [
    {
      id: 'not-builtin',
      describe: 'nbd is not built into the kernel',
      check: shc('if grep -q "/nbd\\.ko$" "$1/modules.builtin" 2>/dev/null; then echo "modules.builtin lists nbd.ko"; exit 1; fi', l.moduleDir),
      otherwise: 'nothing-to-do',
      message: `nbd is built into kernel ${v}: nothing to do`,
      fromFacts: (f) => (f.nbd.builtin ? 'modules.builtin lists nbd.ko' : undefined),
    },
    {
      id: 'not-loaded-elsewhere',
      describe: 'nbd is not loaded, or loaded from this very artifact',
      check: shc(
        '[ -d /sys/module/nbd ] || exit 0; s=$(sha256sum "$1" 2>/dev/null); [ -n "$2" ] && [ "${s%% *}" = "$2" ] && exit 0; echo "/sys/module/nbd exists"; exit 1',
        l.module,
        artifactSha256 ?? '',
      ),
      otherwise: 'nothing-to-do',
      message: 'nbd is already loaded and is not this artifact: nothing to do (rmmod nbd first to replace it)',
      fromFacts: (f) => {
        if (!f.nbd.loaded) return undefined;
        // Before an artifact is chosen, our own installed module gets the benefit of the doubt.
        if (f.nbd.extraSha256 && (artifactSha256 === undefined || f.nbd.extraSha256 === artifactSha256)) return undefined;
        return '/sys/module/nbd exists';
      },
    },
    {
      id: 'not-shipped',
      describe: 'the kernel does not ship its own nbd.ko',
      check: shc('for f in $(find "$1" -name "nbd.ko*" -type f ! -path "$1/extra/*" 2>/dev/null); do echo "$f"; exit 1; done; exit 0', l.moduleDir),
      otherwise: 'nothing-to-do',
      message: `nbd.ko already ships with kernel ${v} (modprobe nbd loads it): nothing to do`,
      fromFacts: (f) => f.nbd.installed.find((p) => !p.startsWith(`${l.extraDir}/`)),
    },
  ];
}

/** The kernel loads modules, and (for an unsigned module) does not enforce signatures. */
function loadingRules(signed: boolean | undefined): Rule[] {
  return [
    {
      id: 'modules-enabled',
      describe: 'module loading is enabled',
      check: shc('[ "$(cat /proc/sys/kernel/modules_disabled 2>/dev/null)" != 1 ] || { echo "kernel.modules_disabled=1"; exit 1; }'),
      otherwise: 'refuse',
      message: 'this kernel no longer loads modules',
      fromFacts: (f) => (f.signatures.modulesDisabled ? 'kernel.modules_disabled=1' : undefined),
    },
    {
      id: 'signatures',
      describe: 'the kernel does not enforce module signatures',
      // Lockdown (integrity or confidentiality) refuses unsigned modules even when sig_enforce reads N.
      check: shc(
        '[ "$(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)" != Y ] || { echo "sig_enforce=Y"; exit 1; }\n' +
          'l=$(cat /sys/kernel/security/lockdown 2>/dev/null); case "$l" in *"[integrity]"*|*"[confidentiality]"*) echo "lockdown: $l"; exit 1;; esac',
      ),
      otherwise: 'refuse',
      message:
        'the kernel enforces module signatures (Secure Boot, module.sig_enforce=1 or lockdown) and this module is unsigned: ' +
        'build it with --sign-key/--sign-cert using a key this host trusts (enrolled with mokutil --import, see docs/signing.md)',
      fromFacts: (f) => {
        if (signed === undefined) return undefined;
        if (f.signatures.enforced) return 'sig_enforce=Y';
        const l = f.signatures.lockdown ?? '';
        return /\[(integrity|confidentiality)\]/.test(l) ? `lockdown: ${l}` : undefined;
      },
    },
  ];
}

function toolsRule(tools: string[]): Rule {
  return {
    id: 'tools',
    describe: `${tools.join(', ')} are installed`,
    check: shc('m=; for t; do command -v "$t" >/dev/null 2>&1 || m="$m $t"; done; [ -z "$m" ] || { echo "missing:$m"; exit 1; }', ...tools),
    otherwise: 'refuse',
    message: 'required tools are missing',
    fromFacts: (f) => {
      const missing = tools.filter((t) => !f.tools[t]);
      return missing.length ? `missing: ${missing.join(' ')}` : undefined;
    },
  };
}

/** The first rule the facts break, worded as the sh check would word it. */
export function judge(rules: Rule[], facts: HostFacts): { rule: Rule; message: string } | undefined {
  for (const rule of rules) {
    const detail = rule.fromFacts(facts);
    if (detail !== undefined) return { rule, message: `${rule.message}: ${detail}` };
  }
  return undefined;
}
