import { DEFAULT_FAMILY, familyNames, getFamily } from '../families/index.ts';
import type { Family } from '../families/family.ts';
import { UsageError } from './context.ts';
/**
 * The --family value, read before the strict parse: a family declares its own options (el7's
 * --release), so which options exist depends on it. Default debian12.
 */
export function familyOf(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--family' && i + 1 < argv.length) return argv[i + 1];
    if (argv[i].startsWith('--family=')) return argv[i].slice('--family='.length);
  }
  return DEFAULT_FAMILY;
}

/**
 * An option another family declares, given with this family: say whose it is (a plain "unknown
 * option" would hide that the user picked the wrong --family).
 */
export function refuseOtherFamiliesOptions(argv: string[], family: string, declared: (f: Family) => string[]): void {
  const mine = new Set(declared(getFamily(family, {})));
  for (const other of familyNames().filter((f) => f !== family)) {
    for (const opt of declared(getFamily(other, {}))) {
      if (mine.has(opt)) continue;
      if (argv.some((a) => a === `--${opt}` || a.startsWith(`--${opt}=`))) throw new UsageError(`--${opt} applies to --family ${other} only`);
    }
  }
}
