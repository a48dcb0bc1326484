/**
 * prepare-host's own plan for one kernel, emitted by the same machinery as `prepare-host
 * --emit-script`, with one difference: the module is not carried inside the script as base64 but
 * read from the file install.sh downloaded and checked (NBDFORGE_MODULE_FILE). The plan's own
 * verify-sha256 and verify-vermagic steps still check that file on the host before it is installed.
 */
import { emitScript } from '../../host/emit-script.ts';
import { planPrepareHost } from '../../prepare-host/plan-prepare-host.ts';
import { hostLayout } from '../../prepare-host/layout.ts';
import { parseOptions, DEFAULT_OPTIONS } from '../../prepare-host/options.ts';
import { normVermagic } from '../../prepare-host/resolve-artifact.ts';
import { shc } from '../../host/step.ts';
import type { Plan } from '../../host/plan.ts';

export const MODULE_FILE_VAR = 'NBDFORGE_MODULE_FILE';

export function renderPlanScript(a: { kernelRelease: string; sha256: string; vermagic: string }, generator: string, options = DEFAULT_OPTIONS): string {
  const plan = planPrepareHost({
    layout: hostLayout(a.kernelRelease),
    artifact: { bytes: new Uint8Array(0), sha256: a.sha256, vermagic: normVermagic(a.vermagic) },
    options: parseOptions(options),
    needsBase64: false,
  });
  return emitScript(stdinFromFile(plan), { generator });
}

/** Every step that would get bytes on stdin reads them from $NBDFORGE_MODULE_FILE instead. */
export function stdinFromFile(plan: Plan): Plan {
  const v = MODULE_FILE_VAR;
  return {
    ...plan,
    preconditions: [
      {
        id: 'module-file',
        describe: `$${v} names the downloaded module`,
        check: shc(`[ -n "$${v}" ] && [ -f "$${v}" ] || { echo "$${v} is \${${v}:-unset}"; exit 1; }`),
        otherwise: 'refuse',
        message: `this script installs the module install.sh downloaded: run install.sh, or set ${v}=/path/to/nbd.ko`,
      },
      ...plan.preconditions,
    ],
    steps: plan.steps.map((s) => (s.stdin ? { ...s, stdin: undefined, command: shc(`"$@" < "$${v}"`, ...s.command) } : s)),
  };
}
