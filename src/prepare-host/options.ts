/** nbd module options as given on the command line: `nbds_max=16 max_part=15`. */
import { NbdforgeError } from '../errors.ts';

export type ModuleOptions = Array<[string, string]>;

export const DEFAULT_OPTIONS = 'nbds_max=16 max_part=15';

export class OptionsError extends NbdforgeError {
  override name = 'OptionsError';
  override readonly exitCode = 2;
}

export function parseOptions(text: string): ModuleOptions {
  const out: ModuleOptions = [];
  for (const word of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^([a-z_][a-z0-9_]*)=([A-Za-z0-9_.,:+-]+)$/.exec(word);
    if (!m) throw new OptionsError(`bad module option ${JSON.stringify(word)}: expected name=value (e.g. ${DEFAULT_OPTIONS})`);
    if (out.some(([k]) => k === m[1])) throw new OptionsError(`module option ${m[1]} given twice`);
    out.push([m[1], m[2]]);
  }
  return out;
}

/**
 * The value the kernel shows in /sys/module/nbd/parameters after loading: nbd rounds max_part up to
 * 2^n - 1 (nbd_init: part_shift = fls(max_part); max_part = (1 << part_shift) - 1).
 */
export function expectedParameter(name: string, value: string): string {
  if (name === 'max_part' && /^\d+$/.test(value) && Number(value) > 0) {
    const fls = Math.floor(Math.log2(Number(value))) + 1;
    return String(2 ** fls - 1);
  }
  return value;
}
