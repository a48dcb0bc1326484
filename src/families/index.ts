import { type Family, UnknownFamilyError } from './family.ts';
import { didYouMean } from '../util/suggest.ts';
import { createDebian12 } from './debian12/index.ts';
import { createEl7 } from './el7/index.ts';

const families: Record<string, (env: NodeJS.ProcessEnv) => Family> = {
  debian12: createDebian12,
  el7: createEl7,
};

/** The family commands use when --family is not given (the one the quickstart builds). */
export const DEFAULT_FAMILY = 'debian12';

export function familyNames(): string[] {
  return Object.keys(families);
}

export function getFamily(name: string, env: NodeJS.ProcessEnv): Family {
  const make = families[name];
  if (!make) throw new UnknownFamilyError(`unknown family "${name}"${familyHint(name)} (known: ${familyNames().join(', ')})`);
  return make(env);
}

export function registerFamily(name: string, make: (env: NodeJS.ProcessEnv) => Family): void {
  families[name] = make;
}

/** What people call a family, by the names they know it by: CentOS 7 is el7, bookworm is debian12. */
const ALIASES: Array<[RegExp, string]> = [
  [/^(centos|rhel|redhat|el|oracle|ol|rocky|alma|sl|scientific)-?7([._-].*)?$/i, 'el7'],
  [/^(centos|rhel|el)$/i, 'el7'],
  [/^(debian|deb|bookworm)-?(12)?$/i, 'debian12'],
];

function familyHint(name: string): string {
  const alias = ALIASES.find(([re, fam]) => re.test(name) && families[fam])?.[1];
  if (alias) return ` (did you mean ${alias}?)`;
  return didYouMean(name, familyNames());
}

/** The family a kernel release looks like by its name (for hints only: never to pick a build). */
const RELEASE_SHAPES: Array<[RegExp, string]> = [
  [/\.el7(\.[a-z0-9_]+)?$/, 'el7'],
  [/^6\.1\.0-\d+-|^\d+\.\d+\.\d+\+deb12-/, 'debian12'],
];

export function familyOfRelease(release: string): string | undefined {
  return RELEASE_SHAPES.find(([re, fam]) => re.test(release) && families[fam])?.[1];
}
