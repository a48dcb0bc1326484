import { readFileSync } from 'node:fs';
import type { Runner } from './runner.ts';
import { NbdforgeError } from '../errors.ts';

/** The probe script: read-only POSIX sh, the same text whether run locally, over ssh or in a guest. */
export const FACTS_SCRIPT = readFileSync(new URL('./facts-probe.sh', import.meta.url), 'utf8');

export interface HostFacts {
  kernelRelease: string;
  machine: string;
  uid: number;
  isRoot: boolean;
  /** /lib/modules/<release> when it exists. */
  moduleDir?: string;
  nbd: {
    loaded: boolean;
    builtin: boolean;
    /** Every nbd.ko* under the module directory (ours in extra/, or the distribution's). */
    installed: string[];
    /** sha256 of <moduleDir>/extra/nbd.ko, when present. */
    extraSha256?: string;
    initstate?: string;
    parameters: Record<string, string>;
  };
  signatures: {
    /** /sys/module/module/parameters/sig_enforce: undefined when the kernel has no signature support. */
    enforced?: boolean;
    modulesDisabled: boolean;
    lockdown?: string;
  };
  /** vermagic of a module shipped with the running kernel, when one can be read. */
  vermagic?: string;
  tainted?: number;
  tools: Record<string, string>;
}

export class FactsError extends NbdforgeError {
  override name = 'FactsError';
}

export function parseFacts(text: string): HostFacts {
  const one = new Map<string, string>();
  const many = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    const v = line.slice(i + 1);
    one.set(k, v);
    many.set(k, [...(many.get(k) ?? []), v]);
  }
  const kernelRelease = one.get('kernel');
  const uid = Number(one.get('uid'));
  if (!kernelRelease || !Number.isInteger(uid)) throw new FactsError(`host facts lack kernel or uid:\n${text.slice(0, 500)}`);
  const pairs = (k: string) =>
    Object.fromEntries((many.get(k) ?? []).map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]).filter(([a]) => a));
  const sig = one.get('sig_enforce');
  return {
    kernelRelease,
    machine: one.get('machine') ?? '',
    uid,
    isRoot: uid === 0,
    moduleDir: one.get('moddir'),
    nbd: {
      loaded: one.get('nbd_loaded') === 'yes',
      builtin: one.get('nbd_builtin') === 'yes',
      installed: many.get('nbd_installed') ?? [],
      extraSha256: one.get('extra_sha256') || undefined,
      initstate: one.get('nbd_initstate'),
      parameters: pairs('nbd_param'),
    },
    signatures: {
      enforced: sig === undefined ? undefined : sig === 'Y' || sig === '1',
      modulesDisabled: one.get('modules_disabled') === '1',
      lockdown: one.get('lockdown'),
    },
    vermagic: one.get('vermagic') || undefined,
    tainted: one.has('tainted') ? Number(one.get('tainted')) : undefined,
    tools: pairs('tool'),
  };
}

/** Ask a host (through any runner) for its facts. */
export async function gatherFacts(runner: Runner): Promise<HostFacts> {
  const r = await runner.exec(['sh', '-c', FACTS_SCRIPT]);
  return parseFacts(r.stdout);
}
