/** The options `prove` and `matrix --prove` share. */
import { UsageError } from './context.ts';
import type { ProofsOptions } from './run-proofs.ts';
import type { AccelChoice } from '../prove/accel.ts';

export const proveOptions = {
  jobs: { type: 'string' },
  force: { type: 'boolean', default: false },
  accel: { type: 'string', default: 'auto' },
  timeout: { type: 'string' },
} as const;

export const DEFAULT_GUEST_TIMEOUT_S = 300;

export const proveUsage = `  --jobs N          guests at once (default: number of CPUs)
  --force           prove again even when a proof of these bytes in this kernel is cached
  --accel A         auto (KVM if a trial guest runs under it, else TCG) | kvm | tcg (default auto)
  --timeout S       each guest's deadline from start to verdict (default ${DEFAULT_GUEST_TIMEOUT_S}); downloads
                    follow NBDFORGE_TIMEOUT`;

export function positiveInt(name: string, v?: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[1-9]\d{0,5}$/.test(v)) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return Number(v);
}

export function proofsOptionsFrom(values: { force?: boolean; accel?: string; timeout?: string; json?: boolean }, jobs: number): ProofsOptions {
  if (!['auto', 'kvm', 'tcg'].includes(values.accel ?? 'auto')) throw new UsageError(`--accel must be auto, kvm or tcg, got "${values.accel}"`);
  return {
    jobs,
    force: values.force === true,
    json: values.json === true,
    timeoutMs: (positiveInt('timeout', values.timeout) ?? DEFAULT_GUEST_TIMEOUT_S) * 1000,
    accel: (values.accel ?? 'auto') as AccelChoice,
  };
}
