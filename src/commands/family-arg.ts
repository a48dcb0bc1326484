import { DEFAULT_FAMILY } from '../families/index.ts';
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
